//go:build amd64 && !purego

package kernel

//go:generate go run infer_gen.go

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// HaveInferAsm reports whether the inference kernels of infer_amd64.s run
// here (AVX2 and FMA); without them the Go loops of infer_loop.go run.
var HaveInferAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotRowsF32(w unsafe.Pointer, ldw int, x unsafe.Pointer, ldx int, nc int, y unsafe.Pointer, ldy int, rows int)

//go:noescape
func dotRowsBF16(w unsafe.Pointer, ldw int, x unsafe.Pointer, ldx int, nc int, y unsafe.Pointer, ldy int, rows int)

//go:noescape
func dotRows24F32(v unsafe.Pointer, ldv int, meta unsafe.Pointer, ldm int, lut unsafe.Pointer, x unsafe.Pointer, ldx int, nc int, y unsafe.Pointer, ldy int, rows int)

//go:noescape
func dotRows24BF16(v unsafe.Pointer, ldv int, meta unsafe.Pointer, ldm int, lut unsafe.Pointer, x unsafe.Pointer, ldx int, nc int, y unsafe.Pointer, ldy int, rows int)

//go:noescape
func sumF32(p unsafe.Pointer, nc int) float32

// The Fast functions run steps 1–2 of the first n32 inputs (a multiple of
// 32) of every row in assembly; bounds were checked by the caller. They
// report false when they cannot (no AVX2/FMA); with n32 = 0 they only set
// y to 0.

func dotRowsF32Fast(w []float32, ldw int, x []float32, ldx, n32 int, y []float32, ldy, rows int) bool {
	if !HaveInferAsm {
		return false
	}
	if rows > 0 && zeroRows(n32, y, ldy, rows) {
		dotRowsF32(unsafe.Pointer(&w[0]), 4*ldw, unsafe.Pointer(&x[0]), 4*ldx, n32/32, unsafe.Pointer(&y[0]), 4*ldy, rows)
	}
	return true
}

func dotRowsBF16Fast(w []uint16, ldw int, x []float32, ldx, n32 int, y []float32, ldy, rows int) bool {
	if !HaveInferAsm {
		return false
	}
	if rows > 0 && zeroRows(n32, y, ldy, rows) {
		dotRowsBF16(unsafe.Pointer(&w[0]), 2*ldw, unsafe.Pointer(&x[0]), 4*ldx, n32/32, unsafe.Pointer(&y[0]), 4*ldy, rows)
	}
	return true
}

func dotRows24F32Fast(v []float32, ldv int, meta []byte, ldm int, x []float32, ldx, n32 int, y []float32, ldy, rows int) bool {
	if !HaveInferAsm {
		return false
	}
	if rows > 0 && zeroRows(n32, y, ldy, rows) {
		dotRows24F32(unsafe.Pointer(&v[0]), 4*ldv, unsafe.Pointer(&meta[0]), ldm, unsafe.Pointer(&lut24b[0][0]), unsafe.Pointer(&x[0]), 4*ldx, n32/32, unsafe.Pointer(&y[0]), 4*ldy, rows)
	}
	return true
}

func dotRows24BF16Fast(v []uint16, ldv int, meta []byte, ldm int, x []float32, ldx, n32 int, y []float32, ldy, rows int) bool {
	if !HaveInferAsm {
		return false
	}
	if rows > 0 && zeroRows(n32, y, ldy, rows) {
		dotRows24BF16(unsafe.Pointer(&v[0]), 2*ldv, unsafe.Pointer(&meta[0]), ldm, unsafe.Pointer(&lut24b[0][0]), unsafe.Pointer(&x[0]), 4*ldx, n32/32, unsafe.Pointer(&y[0]), 4*ldy, rows)
	}
	return true
}

// zeroRows sets the outputs to 0 when there is no whole chunk (the lanes'
// sum) and reports whether the assembly has chunks to run.
func zeroRows(n32 int, y []float32, ldy, rows int) bool {
	if n32 > 0 {
		return true
	}
	for r := range rows {
		y[r*ldy] = 0
	}
	return false
}

func sumF32Fast(p []float32) (float32, bool) {
	if !HaveInferAsm {
		return 0, false
	}
	if len(p) < 32 {
		return 0, true
	}
	return sumF32(unsafe.Pointer(&p[0]), len(p)/32), true
}
