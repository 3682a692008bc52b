//go:build !amd64 || purego

package kernel

// haveGemmFMA is false off amd64 (or with the purego tag).
const haveGemmFMA = false

// gemmFMA has no assembly here: it reports false and MulAdd uses Gemm.
func gemmFMA[T Float](m, n, k int, a []T, rs, ks int, b []T, ldb int, bt bool, c []T, ldc int, f []T, ldf int, neg bool) bool {
	return false
}
