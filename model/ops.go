package model

import "math"

// rmsNorm writes y = g ⊙ x / sqrt(mean(x²) + eps) for every row of x
// (rows × len(g)). The sum of squares is accumulated in float64.
func rmsNorm(y, x, g []float32, rows int, eps float64) {
	d := len(g)
	for r := 0; r < rows; r++ {
		xr, yr := x[r*d:(r+1)*d], y[r*d:(r+1)*d]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		inv := 1 / math.Sqrt(ss/float64(d)+eps)
		for i, v := range xr {
			yr[i] = float32(float64(g[i]) * float64(v) * inv)
		}
	}
}

// swiGLU overwrites gate with silu(gate) ⊙ up, silu(z) = z / (1 + e^(−z)).
func swiGLU(gate, up []float32) {
	for i, g := range gate {
		z := float64(g)
		gate[i] = float32(z / (1 + math.Exp(-z)) * float64(up[i]))
	}
}

// addInPlace sets a += b.
func addInPlace(a, b []float32) {
	for i := range a {
		a[i] += b[i]
	}
}

// softmaxRow replaces s[:n] by softmax(s[:n]) and zeroes s[n:]. The
// maximum is subtracted first and the normaliser Σ exp is summed in float64.
func softmaxRow(s []float32, n int) {
	m := float32(math.Inf(-1))
	for _, v := range s[:n] {
		if v > m {
			m = v
		}
	}
	var sum float64
	for i, v := range s[:n] {
		e := math.Exp(float64(v - m))
		s[i] = float32(e)
		sum += e
	}
	inv := 1 / sum
	for i := range s[:n] {
		s[i] = float32(float64(s[i]) * inv)
	}
	clear(s[n:])
}

// logSumExp returns log Σ exp(x_i), computed in float64 around the maximum.
func logSumExp(x []float32) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		if float64(v) > m {
			m = float64(v)
		}
	}
	if math.IsInf(m, 0) {
		return m
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// argmax returns the index of the largest value (the first on ties).
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
