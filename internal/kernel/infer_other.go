//go:build !amd64 || purego

package kernel

// HaveInferAsm reports whether the inference kernels run in assembly; here
// they never do (not amd64, or the purego tag), and the Go loops run.
const HaveInferAsm = false

func dotRowsF32Fast(w []float32, ldw int, x []float32, ldx, n32 int, y []float32, ldy, rows int) bool {
	return false
}

func dotRowsBF16Fast(w []uint16, ldw int, x []float32, ldx, n32 int, y []float32, ldy, rows int) bool {
	return false
}

func dotRows24F32Fast(v []float32, ldv int, meta []byte, ldm int, x []float32, ldx, n32 int, y []float32, ldy, rows int) bool {
	return false
}

func dotRows24BF16Fast(v []uint16, ldv int, meta []byte, ldm int, x []float32, ldx, n32 int, y []float32, ldy, rows int) bool {
	return false
}

func sumF32Fast(p []float32) (float32, bool) { return 0, false }
