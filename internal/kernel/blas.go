package kernel

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// Gemm computes c = alpha·op(a)·op(b) + beta·c with blas64 or blas32.
func Gemm[T Float](tA, tB blas.Transpose, alpha T, a, b Mat[T], beta T, c Mat[T]) {
	switch ad := any(a.Data).(type) {
	case []float64:
		g := func(m Mat[T]) blas64.General {
			return blas64.General{Rows: m.Rows, Cols: m.Cols, Stride: m.Stride, Data: any(m.Data).([]float64)}
		}
		blas64.Gemm(tA, tB, float64(alpha), blas64.General{Rows: a.Rows, Cols: a.Cols, Stride: a.Stride, Data: ad}, g(b), float64(beta), g(c))
	case []float32:
		g := func(m Mat[T]) blas32.General {
			return blas32.General{Rows: m.Rows, Cols: m.Cols, Stride: m.Stride, Data: any(m.Data).([]float32)}
		}
		blas32.Gemm(tA, tB, float32(alpha), blas32.General{Rows: a.Rows, Cols: a.Cols, Stride: a.Stride, Data: ad}, g(b), float32(beta), g(c))
	}
}

// MulAdd computes c = op(a)·op(b) (f nil) or c = ±f + op(a)·op(b) (−
// when neg). On a processor with AVX2 and FMA, and when c's width is a
// multiple of the kernel's panel width, it runs the assembly kernels of
// gemmFMA: they read a in place and pack b in L2-sized blocks (no pass
// zeroing c or copying f), and each entry is one fused multiply-add chain in
// a fixed order, so the result is bitwise independent of the threads as
// with BLAS. Otherwise it copies ±f into c and calls Gemm. (Which of the two
// runs is fixed by the build, the processor and c's width, so a given
// build on a given machine always gives the same bits.)
func MulAdd[T Float](tA, tB blas.Transpose, a, b Mat[T], c Mat[T], f *Mat[T], neg bool) {
	m, k, rs, ks := a.Rows, a.Cols, a.Stride, 1
	if tA == blas.Trans {
		m, k, rs, ks = a.Cols, a.Rows, 1, a.Stride
	}
	var fd []T
	ldf := 0
	if f != nil {
		fd, ldf = f.Data, f.Stride
	}
	if gemmFMA(m, c.Cols, k, a.Data, rs, ks, b.Data, b.Stride, tB == blas.Trans, c.Data, c.Stride, fd, ldf, neg) {
		return
	}
	beta := T(0)
	if f != nil {
		beta = 1
		for r := 0; r < c.Rows; r++ {
			cr, fr := c.Data[r*c.Stride:r*c.Stride+c.Cols], f.Data[r*f.Stride:r*f.Stride+c.Cols]
			for k, v := range fr {
				if neg {
					v = -v
				}
				cr[k] = v
			}
		}
	}
	Gemm(tA, tB, 1, a, b, beta, c)
}

// Gemm64 is blas64.Gemm for float64 panel products: with alpha = 1 and
// beta = 0 it is MulAdd (the FMA kernels when it can).
func Gemm64(tA, tB blas.Transpose, alpha float64, a, b blas64.General, beta float64, c blas64.General) {
	if alpha == 1 && beta == 0 {
		g := func(m blas64.General) Mat[float64] {
			return Mat[float64]{Rows: m.Rows, Cols: m.Cols, Stride: m.Stride, Data: m.Data}
		}
		MulAdd(tA, tB, g(a), g(b), g(c), nil, false)
		return
	}
	blas64.Gemm(tA, tB, alpha, a, b, beta, c)
}

// Trsm solves op(a)·X = alpha·b (side Left) or X·op(a) = alpha·b (side
// Right) for X, overwriting b, with blas64 or blas32; a is square, triangular
// (uplo) with a non-unit diagonal.
func Trsm[T Float](s blas.Side, ul blas.Uplo, tA blas.Transpose, alpha T, a, b Mat[T]) {
	triangular(blas64.Trsm, blas32.Trsm, s, ul, tA, alpha, a, b)
}

// Trmm computes b = alpha·op(a)·b (side Left) or b = alpha·b·op(a) (side
// Right) with blas64 or blas32; a is square, triangular (uplo) with a
// non-unit diagonal.
func Trmm[T Float](s blas.Side, ul blas.Uplo, tA blas.Transpose, alpha T, a, b Mat[T]) {
	triangular(blas64.Trmm, blas32.Trmm, s, ul, tA, alpha, a, b)
}

// triangular calls f64 or f32 (blas64/blas32's Trsm or Trmm, which share a
// signature) on a as a non-unit triangular matrix and b, by storage type.
func triangular[T Float](
	f64 func(blas.Side, blas.Transpose, float64, blas64.Triangular, blas64.General),
	f32 func(blas.Side, blas.Transpose, float32, blas32.Triangular, blas32.General),
	s blas.Side, ul blas.Uplo, tA blas.Transpose, alpha T, a, b Mat[T]) {
	switch ad := any(a.Data).(type) {
	case []float64:
		f64(s, tA, float64(alpha), blas64.Triangular{Uplo: ul, Diag: blas.NonUnit, N: a.Rows, Stride: a.Stride, Data: ad},
			blas64.General{Rows: b.Rows, Cols: b.Cols, Stride: b.Stride, Data: any(b.Data).([]float64)})
	case []float32:
		f32(s, tA, float32(alpha), blas32.Triangular{Uplo: ul, Diag: blas.NonUnit, N: a.Rows, Stride: a.Stride, Data: ad},
			blas32.General{Rows: b.Rows, Cols: b.Cols, Stride: b.Stride, Data: any(b.Data).([]float32)})
	}
}

// Syrk computes the upper triangle of c = alpha·a·aᵀ + beta·c (t = NoTrans)
// or c = alpha·aᵀ·a + beta·c (t = Trans) with blas64 or blas32; c is square
// and its strict lower triangle is not referenced.
func Syrk[T Float](t blas.Transpose, alpha T, a Mat[T], beta T, c Mat[T]) {
	switch ad := any(a.Data).(type) {
	case []float64:
		blas64.Syrk(t, float64(alpha), blas64.General{Rows: a.Rows, Cols: a.Cols, Stride: a.Stride, Data: ad}, float64(beta),
			blas64.Symmetric{Uplo: blas.Upper, N: c.Rows, Stride: c.Stride, Data: any(c.Data).([]float64)})
	case []float32:
		blas32.Syrk(t, float32(alpha), blas32.General{Rows: a.Rows, Cols: a.Cols, Stride: a.Stride, Data: ad}, float32(beta),
			blas32.Symmetric{Uplo: blas.Upper, N: c.Rows, Stride: c.Stride, Data: any(c.Data).([]float32)})
	}
}
