//go:build !linux

package methods

import "math"

// processCPUSeconds is NaN where the process CPU time is not read.
func processCPUSeconds() float64 { return math.NaN() }
