//go:build amd64 && !purego

package kernel

//go:noescape
func adamKeep32AVX2(x, g, m, v []float32, keep []bool, s []float32, c *AdamConsts[float32])

//go:noescape
func adamKeep64AVX2(x, g, m, v []float64, keep []bool, s []float64, c *AdamConsts[float64])

//go:noescape
func adam32AVX2(x, g, m, v []float32, c *AdamConsts[float32])

//go:noescape
func adam64AVX2(x, g, m, v []float64, c *AdamConsts[float64])

// Adam applies one PyTorch-style Adam update (no weight decay) to x with
// gradient g and moments m, v, in the storage type: adamGo, with AVX2 for
// eight float32 or four float64 entries at a time where the processor has
// it.
func Adam[T Float](x, g, m, v []T, c *AdamConsts[T]) {
	n := 0
	if haveAVX2 {
		n = adamAVX2(x, g, m, v, nil, nil, c)
	}
	adamGo(x[n:], g[n:], m[n:], v[n:], c)
}

// AdamKeep is Adam where entries whose keep is false get zero gradient
// (their moments decay), and also writes the masked result x⊙keep to s:
// adamKeepGo, with AVX2 where the processor has it.
func AdamKeep[T Float](x, g, m, v []T, keep []bool, s []T, c *AdamConsts[T]) {
	n := 0
	if haveAVX2 {
		n = adamAVX2(x, g, m, v, keep, s, c)
	}
	adamKeepGo(x[n:], g[n:], m[n:], v[n:], keep[n:], s[n:], c)
}

// adamAVX2 runs the assembly kernel on the longest prefix of x it takes (a
// multiple of 8 float32 or 4 float64 entries), masked when keep is given,
// and returns the prefix's length. Reslicing checks the lengths the
// assembly relies on.
func adamAVX2[T Float](x, g, m, v []T, keep []bool, s []T, c *AdamConsts[T]) int {
	switch xt := any(x).(type) {
	case []float32:
		n := len(x) / 8 * 8
		if n == 0 {
			return 0
		}
		g32, m32, v32, c32 := any(g).([]float32)[:n], any(m).([]float32)[:n], any(v).([]float32)[:n], any(c).(*AdamConsts[float32])
		if keep == nil {
			adam32AVX2(xt[:n], g32, m32, v32, c32)
		} else {
			adamKeep32AVX2(xt[:n], g32, m32, v32, keep[:n], any(s).([]float32)[:n], c32)
		}
		return n
	case []float64:
		n := len(x) / 4 * 4
		if n == 0 {
			return 0
		}
		g64, m64, v64, c64 := any(g).([]float64)[:n], any(m).([]float64)[:n], any(v).([]float64)[:n], any(c).(*AdamConsts[float64])
		if keep == nil {
			adam64AVX2(xt[:n], g64, m64, v64, c64)
		} else {
			adamKeep64AVX2(xt[:n], g64, m64, v64, keep[:n], any(s).([]float64)[:n], c64)
		}
		return n
	}
	return 0
}
