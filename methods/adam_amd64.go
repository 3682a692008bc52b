//go:build amd64 && !purego

package methods

import "golang.org/x/sys/cpu"

// haveAdamAVX2 reports whether adamKeep32AVX2 can run here.
var haveAdamAVX2 = cpu.X86.HasAVX2

//go:noescape
func adamKeep32AVX2(x, g, m, v []float32, keep []bool, s []float32, c *adamConsts[float32])

//go:noescape
func adamKeep64AVX2(x, g, m, v []float64, keep []bool, s []float64, c *adamConsts[float64])

// adamKeepFast runs the masked Adam update with AVX2 when the processor has
// it (eight float32 or four float64 entries at a time, the remainder in Go);
// it reports false, doing nothing, when it cannot.
func adamKeepFast[T float](x, g, m, v []T, keep []bool, s []T, c *adamConsts[T]) bool {
	if !haveAdamAVX2 {
		return false
	}
	var n int
	switch xt := any(x).(type) {
	case []float32:
		n = len(x) / 8 * 8
		if n > 0 {
			// Reslicing checks the lengths the assembly relies on.
			adamKeep32AVX2(xt[:n], any(g).([]float32)[:n], any(m).([]float32)[:n], any(v).([]float32)[:n],
				keep[:n], any(s).([]float32)[:n], any(c).(*adamConsts[float32]))
		}
	case []float64:
		n = len(x) / 4 * 4
		if n > 0 {
			adamKeep64AVX2(xt[:n], any(g).([]float64)[:n], any(m).([]float64)[:n], any(v).([]float64)[:n],
				keep[:n], any(s).([]float64)[:n], any(c).(*adamConsts[float64]))
		}
	}
	adamKeepGo(x[n:], g[n:], m[n:], v[n:], keep[n:], s[n:], c)
	return true
}

//go:noescape
func adam32AVX2(x, g, m, v []float32, c *adamConsts[float32])

//go:noescape
func adam64AVX2(x, g, m, v []float64, c *adamConsts[float64])

// adamFast is adamKeepFast for the unmasked update (adamGo).
func adamFast[T float](x, g, m, v []T, c *adamConsts[T]) bool {
	if !haveAdamAVX2 {
		return false
	}
	var n int
	switch xt := any(x).(type) {
	case []float32:
		n = len(x) / 8 * 8
		if n > 0 {
			adam32AVX2(xt[:n], any(g).([]float32)[:n], any(m).([]float32)[:n], any(v).([]float32)[:n], any(c).(*adamConsts[float32]))
		}
	case []float64:
		n = len(x) / 4 * 4
		if n > 0 {
			adam64AVX2(xt[:n], any(g).([]float64)[:n], any(m).([]float64)[:n], any(v).([]float64)[:n], any(c).(*adamConsts[float64]))
		}
	}
	adamGo(x[n:], g[n:], m[n:], v[n:], c)
	return true
}
