package model

import (
	"fmt"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/prunebench/armor/internal/halffloat"
)

// HalfKind names the 16-bit format of a Linear stored in half precision.
type HalfKind = halffloat.Kind

// The 16-bit storage formats of Linear.Half.
const (
	HalfBF16 = halffloat.BF16
	HalfF16  = halffloat.F16
)

// Linear is a linear layer y = W x (+ Bias) with W stored row-major as an
// Out × In matrix: W[o*In+i] is the weight from input i to output o. This is
// the layout of PyTorch's nn.Linear.weight and of llama2.c checkpoints.
//
// The weights are held either in float32 (W) or, to keep a large model in
// its checkpoint's dtype, in a 16-bit format (Half, little-endian, same
// layout, of kind HalfKind; W is then nil). Half may be a view of a
// memory-mapped file: it is never written to, and Clone shares it. A
// half-precision layer is applied by widening blocks of rows to float32.
// When Op is set the layer computes through it (then Bias is still
// added) and W and Half may both be nil (see Weights.SetOperator).
type Linear struct {
	Out, In int
	W       []float32
	// Half holds the Out·In weights as 16-bit floats when W is nil.
	Half     []byte
	HalfKind HalfKind
	// Bias, when non-nil, is added to every output ([Out]; Qwen2's q/k/v).
	Bias []float32
	// Op, when set, computes W x in place of the stored weights.
	Op Operator
}

// NewLinear returns a zero Out × In linear layer.
func NewLinear(out, in int) *Linear {
	if out < 0 || in < 0 {
		out, in = 0, 0
	}
	return &Linear{Out: out, In: in, W: make([]float32, out*in)}
}

// NewHalfLinear returns an Out × In layer whose weights are the 16-bit
// values in half (used, not copied).
func NewHalfLinear(out, in int, kind HalfKind, half []byte) *Linear {
	return &Linear{Out: out, In: in, Half: half, HalfKind: kind}
}

// IsHalf reports whether the weights are stored in a 16-bit format.
func (l *Linear) IsHalf() bool { return l.W == nil && l.Half != nil }

// Validate checks that Out and In are positive, that W (or Half) holds
// Out·In weights and that Bias, if present, has Out entries.
func (l *Linear) Validate() error {
	if l == nil {
		return fmt.Errorf("linear: nil layer")
	}
	if l.Out <= 0 || l.In <= 0 {
		return fmt.Errorf("linear: sizes must be positive, got %d×%d", l.Out, l.In)
	}
	hasOp := l.Op != nil
	if hasOp {
		if out, in := l.Op.Dims(); out != l.Out || in != l.In {
			return fmt.Errorf("linear: %d×%d layer has a %d×%d operator", l.Out, l.In, out, in)
		}
	}
	switch {
	case hasOp && l.W == nil && l.Half == nil:
		// The operator holds the weights.
	case l.IsHalf():
		if l.HalfKind != HalfBF16 && l.HalfKind != HalfF16 {
			return fmt.Errorf("linear: %d×%d layer has half-precision weights of unknown kind %d", l.Out, l.In, l.HalfKind)
		}
		if len(l.Half) != 2*l.Out*l.In {
			return fmt.Errorf("linear: %d×%d layer has %d bytes of %s weights, want %d", l.Out, l.In, len(l.Half), l.HalfKind, 2*l.Out*l.In)
		}
	case len(l.W) != l.Out*l.In:
		return fmt.Errorf("linear: %d×%d layer has %d weights, want %d", l.Out, l.In, len(l.W), l.Out*l.In)
	}
	if l.Bias != nil && len(l.Bias) != l.Out {
		return fmt.Errorf("linear: %d×%d layer has a bias of %d values, want %d", l.Out, l.In, len(l.Bias), l.Out)
	}
	return nil
}

// Clone returns a deep copy of l (nil for nil); half-precision weights,
// which are never modified, are shared.
func (l *Linear) Clone() *Linear {
	if l == nil {
		return nil
	}
	c := *l
	if l.W != nil {
		c.W = append([]float32(nil), l.W...)
	}
	if l.Bias != nil {
		c.Bias = append([]float32(nil), l.Bias...)
	}
	return &c
}

// Float32s returns the weights as float32, Out·In values row-major: W
// itself (not a copy) or, for a half-precision layer, a new widened copy.
func (l *Linear) Float32s() []float32 {
	if !l.IsHalf() {
		return l.W
	}
	w := make([]float32, l.Out*l.In)
	halffloat.Widen(l.HalfKind, w, l.Half)
	return w
}

// RowsFloat32 writes rows r0..r1 of the weights, as float32, into dst
// ((r1−r0)·In values).
func (l *Linear) RowsFloat32(dst []float32, r0, r1 int) {
	if !l.IsHalf() {
		copy(dst, l.W[r0*l.In:r1*l.In])
		return
	}
	halffloat.Widen(l.HalfKind, dst[:(r1-r0)*l.In], l.Half[2*r0*l.In:2*r1*l.In])
}

// Apply computes Y = X Wᵀ (+ Bias) for a batch X of rows input vectors
// (row-major, rows × In) and returns Y (rows × Out), i.e. y = W x for every
// row.
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

// halfPanelBytes bounds the float32 scratch a half-precision layer widens
// its weights into (a panel of rows at a time).
const halfPanelBytes = 8 << 20

// panelPool recycles the float32 panels of half-precision layers.
var panelPool sync.Pool

// apply is Apply without checks; y must have rows·Out elements.
func (l *Linear) apply(x []float32, rows int, y []float32) {
	if l.Op != nil {
		l.Op.Apply(x, rows, y)
	} else if !l.IsHalf() {
		gemmNT(x, rows, l.In, l.In, l.W, l.Out, l.In, y, l.Out)
	} else {
		// Panels of output columns: the same products as a float32 layer
		// holding the widened weights, blocked differently (results agree
		// to float32 rounding, and do not depend on the number of threads).
		step := max(1, min(l.Out, halfPanelBytes/(4*l.In)))
		var panel []float32
		if p, ok := panelPool.Get().(*[]float32); ok && cap(*p) >= step*l.In {
			panel = (*p)[:step*l.In]
		} else {
			panel = make([]float32, step*l.In)
		}
		for o0 := 0; o0 < l.Out; o0 += step {
			o1 := min(l.Out, o0+step)
			l.RowsFloat32(panel, o0, o1)
			gemmNT(x, rows, l.In, l.In, panel, o1-o0, l.In, y[o0:], l.Out)
		}
		panelPool.Put(&panel)
	}
	if l.Bias != nil {
		for r := 0; r < rows; r++ {
			yr := y[r*l.Out : (r+1)*l.Out]
			for o, b := range l.Bias {
				yr[o] += b
			}
		}
	}
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
