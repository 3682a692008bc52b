//go:build !amd64 || purego

package methods

// groupL1Fast has no assembly here: groupWeightsCols runs its Go loop.
func groupL1Fast[T float](w []float64, ldw int, x []T, ldx, rows, ng int) int {
	return 0
}

// accumRowsFast has no assembly here: recordGrad runs its Go loop.
func accumRowsFast[T float](out []float64, x []T, ld int, coef []float64) int {
	return 0
}

// axpy3Fast has no assembly here: applyPendingGrad runs its Go loop.
func axpy3Fast[T float](g, tg, gs, d, bdh []T, au, tu T) int {
	return 0
}

// rank4Fast has no assembly here: sweepTile runs its Go loop.
func rank4Fast(grow, w, l []float64, ld int, d0, d1, d2, d3, kr float64) int {
	return 0
}

// keepCopyFast has no assembly here: refresh runs its Go loop.
func keepCopyFast[T float](s, v []T, keep []bool) int {
	return 0
}
