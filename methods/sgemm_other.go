//go:build !amd64 || purego

package methods

// haveSgemmFMA is false off amd64 (or with the purego tag).
const haveSgemmFMA = false

// sgemmFMA has no assembly here: it reports false and callers use gemm.
func sgemmFMA(m, n, k int, a []float32, rs, ks int, b []float32, ldb int, bt bool, c []float32, ldc int, f []float32, ldf int, neg bool) bool {
	return false
}
