//go:build amd64 && !purego

package methods

import "golang.org/x/sys/cpu"

// haveAdamAVX2 reports whether adamKeep32AVX2 can run here.
var haveAdamAVX2 = cpu.X86.HasAVX2

//go:noescape
func adamKeep32AVX2(x, g, m, v []float32, keep []bool, s []float32, c *adamConsts[float32])

// adamKeepFast runs the masked Adam update of float32 values with AVX2
// when the processor has it (eight entries at a time, the remainder and
// float64 in Go); it reports false, doing nothing, when it cannot.
func adamKeepFast[T float](x, g, m, v []T, keep []bool, s []T, c *adamConsts[T]) bool {
	x32, ok := any(x).([]float32)
	if !ok || !haveAdamAVX2 {
		return false
	}
	n8 := len(x) / 8 * 8
	if n8 > 0 {
		// Reslicing checks the lengths the assembly relies on.
		g32, m32, v32, s32 := any(g).([]float32)[:n8], any(m).([]float32)[:n8], any(v).([]float32)[:n8], any(s).([]float32)[:n8]
		adamKeep32AVX2(x32[:n8], g32, m32, v32, keep[:n8], s32, any(c).(*adamConsts[float32]))
	}
	adamKeepGo(x[n8:], g[n8:], m[n8:], v[n8:], keep[n8:], s[n8:], c)
	return true
}
