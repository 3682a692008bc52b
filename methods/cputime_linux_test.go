//go:build linux

package methods

import "syscall"

// processCPUSeconds is the user+system CPU time of this process so far. The
// benchmark machine is shared, so CPU time per operation is a steadier
// yardstick than wall time, which counts time spent waiting for a core.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
