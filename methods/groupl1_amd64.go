//go:build amd64 && !purego

package methods

import "fmt"

//go:noescape
func groupL1F32(w *float64, ldw int, x *float32, ldx, rows, ng int)

//go:noescape
func groupL1F64(w *float64, ldw int, x *float64, ldx, rows, ng int)

// groupL1Fast writes the L1 norms of the first ng groups of four of each of
// rows rows of x (row stride ldx) into w (row stride ldw), as the scalar
// loop of groupWeightsCols does and bitwise equal to it, on a processor with
// AVX2; it returns how many groups per row it did (a multiple of 4,
// possibly 0), leaving the rest to the caller.
func groupL1Fast[T float](w []float64, ldw int, x []T, ldx, rows, ng int) int {
	n4 := ng / 4 * 4
	if !haveAdamAVX2 || rows == 0 || n4 == 0 {
		return 0
	}
	if (rows-1)*ldw+n4 > len(w) || (rows-1)*ldx+4*n4 > len(x) {
		panic(fmt.Sprintf("groupL1Fast: %d rows of %d groups exceed slices of %d and %d", rows, n4, len(w), len(x)))
	}
	switch xt := any(x).(type) {
	case []float32:
		groupL1F32(&w[0], ldw, &xt[0], ldx, rows, n4)
	case []float64:
		groupL1F64(&w[0], ldw, &xt[0], ldx, rows, n4)
	}
	return n4
}
