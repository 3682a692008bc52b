//go:build !amd64 || purego

package methods

// haveAdamAVX2 is false off amd64 (or with the purego tag).
const haveAdamAVX2 = false

// adamKeepFast has no assembly here: it reports false and adamUpdate runs
// the Go loop.
func adamKeepFast[T float](x, g, m, v []T, keep []bool, s []T, c *adamConsts[T]) bool {
	return false
}

// adamFast has no assembly here either.
func adamFast[T float](x, g, m, v []T, c *adamConsts[T]) bool {
	return false
}
