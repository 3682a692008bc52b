package model

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Linear is a bias-free linear layer y = W x with W stored row-major as an
// Out × In matrix: W[o*In+i] is the weight from input i to output o. This is
// the layout of PyTorch's nn.Linear.weight and of llama2.c checkpoints.
//
// When Op is set the layer computes through it and W may be nil (see
// Weights.SetOperator).
type Linear struct {
	Out, In int
	W       []float32
	Op      Operator
}

// NewLinear returns a zero Out × In linear layer.
func NewLinear(out, in int) *Linear {
	if out < 0 || in < 0 {
		out, in = 0, 0
	}
	return &Linear{Out: out, In: in, W: make([]float32, out*in)}
}

// Validate checks that Out and In are positive and len(W) = Out·In.
func (l *Linear) Validate() error {
	if l == nil {
		return fmt.Errorf("linear: nil layer")
	}
	if l.Out <= 0 || l.In <= 0 {
		return fmt.Errorf("linear: sizes must be positive, got %d×%d", l.Out, l.In)
	}
	if l.Op != nil {
		if out, in := l.Op.Dims(); out != l.Out || in != l.In {
			return fmt.Errorf("linear: %d×%d layer has a %d×%d operator", l.Out, l.In, out, in)
		}
		if l.W == nil {
			return nil
		}
	}
	if len(l.W) != l.Out*l.In {
		return fmt.Errorf("linear: %d×%d layer has %d weights, want %d", l.Out, l.In, len(l.W), l.Out*l.In)
	}
	return nil
}

// Clone returns a deep copy of l (nil for nil).
func (l *Linear) Clone() *Linear {
	if l == nil {
		return nil
	}
	return &Linear{Out: l.Out, In: l.In, W: append([]float32(nil), l.W...), Op: l.Op}
}

// Apply computes Y = X Wᵀ for a batch X of rows input vectors (row-major,
// rows × In) and returns Y (rows × Out), i.e. y = W x for every row.
func (l *Linear) Apply(x []float32, rows int) ([]float32, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if rows <= 0 || len(x) != rows*l.In {
		return nil, fmt.Errorf("linear: input has %d values, want rows (%d) × in (%d)", len(x), rows, l.In)
	}
	y := make([]float32, rows*l.Out)
	l.apply(x, rows, y)
	return y, nil
}

// apply is Apply without checks; y must have rows·Out elements.
func (l *Linear) apply(x []float32, rows int, y []float32) {
	if l.Op != nil {
		l.Op.Apply(x, rows, y)
		return
	}
	gemmNT(x, rows, l.In, l.In, l.W, l.Out, l.In, y, l.Out)
}

// gemmNT computes C = A Bᵀ with A m×k (stride lda), B n×k (stride ldb) and
// C m×n (stride ldc), all row-major, through gonum's blas32.Gemm.
func gemmNT(a []float32, m, k, lda int, b []float32, n, ldb int, c []float32, ldc int) {
	blas32.Gemm(blas.NoTrans, blas.Trans, 1,
		blas32.General{Rows: m, Cols: k, Stride: lda, Data: a},
		blas32.General{Rows: n, Cols: k, Stride: ldb, Data: b},
		0, blas32.General{Rows: m, Cols: n, Stride: ldc, Data: c})
}

// gemmNN computes C = A B with A m×k (stride lda), B k×n (stride ldb) and
// C m×n (stride ldc), all row-major.
func gemmNN(a []float32, m, k, lda int, b []float32, n, ldb int, c []float32, ldc int) {
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas32.General{Rows: m, Cols: k, Stride: lda, Data: a},
		blas32.General{Rows: k, Cols: n, Stride: ldb, Data: b},
		0, blas32.General{Rows: m, Cols: n, Stride: ldc, Data: c})
}
