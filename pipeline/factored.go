package pipeline

import (
	"fmt"
	"math/bits"

	"gonum.org/v1/gonum/mat"

	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// Factored is ARMOR's deployed form of one linear layer,
//
//	y = A · S · B · x,
//
// with A (DOut × DOut) and B (DIn × DIn) block-diagonal (the normalization
// diag(r) folded into A and diag(c) into B) and S the N:M sparse core. It is
// stored compactly:
//
//   - A holds the diagonal blocks of A one after the other, block k
//     (OutBlocks[k] × OutBlocks[k]) row-major; B likewise with InBlocks;
//   - Groups holds, for every row of S and every group of M consecutive
//     input columns, a bitmask (bit k set = column k of the group is kept),
//     DOut × DIn/M bytes row-major (M ≤ 8);
//   - Values holds the kept entries of S in row-major order.
//
// So it stores len(A) + len(B) + len(Values) numbers (StoredParams) plus
// one byte of index per group.
type Factored struct {
	DOut, DIn int
	Pattern   methods.Pattern
	BlockSize int
	OutBlocks []int
	InBlocks  []int
	A, B      []float32
	Groups    []uint8
	Values    []float32
}

// NewFactored packs an ARMOR result (A, Core and B as dense matrices, zero
// off the diagonal blocks of size res.BlockSize) into its compact form.
func NewFactored(res *methods.Result) (*Factored, error) {
	if res == nil || res.A == nil || res.B == nil || res.Core == nil || res.Mask == nil {
		return nil, fmt.Errorf("factored: result has no A, B, core or mask (only ARMOR results do)")
	}
	dOut, dIn := res.Core.Dims()
	p := res.Pattern
	if p.M > 8 || p.M <= 0 || dIn%p.M != 0 {
		return nil, fmt.Errorf("factored: pattern %s on d_in %d cannot be indexed with one byte per group", p, dIn)
	}
	f := &Factored{
		DOut: dOut, DIn: dIn, Pattern: p, BlockSize: res.BlockSize,
		OutBlocks: methods.BlockSizes(dOut, res.BlockSize),
		InBlocks:  methods.BlockSizes(dIn, res.BlockSize),
	}
	f.A = packBlocks(res.A, f.OutBlocks)
	f.B = packBlocks(res.B, f.InBlocks)
	groups := dIn / p.M
	f.Groups = make([]uint8, dOut*groups)
	for i := 0; i < dOut; i++ {
		for g := 0; g < groups; g++ {
			var bitsSet uint8
			for k := 0; k < p.M; k++ {
				j := g*p.M + k
				if res.Mask.At(i, j) {
					bitsSet |= 1 << k
					f.Values = append(f.Values, float32(res.Core.At(i, j)))
				}
			}
			f.Groups[i*groups+g] = bitsSet
		}
	}
	return f, nil
}

// packBlocks concatenates the diagonal blocks of m (sizes given) row-major.
func packBlocks(m *mat.Dense, sizes []int) []float32 {
	var out []float32
	s0 := 0
	for _, s := range sizes {
		for i := 0; i < s; i++ {
			for j := 0; j < s; j++ {
				out = append(out, float32(m.At(s0+i, s0+j)))
			}
		}
		s0 += s
	}
	return out
}

// Validate checks that the sizes of every part agree.
func (f *Factored) Validate() error {
	if f.DOut <= 0 || f.DIn <= 0 {
		return fmt.Errorf("factored: sizes must be positive, got %d×%d", f.DOut, f.DIn)
	}
	if err := f.Pattern.Valid(); err != nil {
		return fmt.Errorf("factored: %w", err)
	}
	if f.Pattern.M > 8 || f.DIn%f.Pattern.M != 0 {
		return fmt.Errorf("factored: d_in %d is not a multiple of M=%d (or M > 8)", f.DIn, f.Pattern.M)
	}
	check := func(what string, sizes []int, d int, data []float32) error {
		sum, sq := 0, 0
		for _, s := range sizes {
			if s <= 0 {
				return fmt.Errorf("factored: %s has a block of size %d", what, s)
			}
			sum += s
			sq += s * s
		}
		if sum != d {
			return fmt.Errorf("factored: %s blocks sum to %d, want %d", what, sum, d)
		}
		if len(data) != sq {
			return fmt.Errorf("factored: %s has %d values, its blocks need %d", what, len(data), sq)
		}
		return nil
	}
	if err := check("A", f.OutBlocks, f.DOut, f.A); err != nil {
		return err
	}
	if err := check("B", f.InBlocks, f.DIn, f.B); err != nil {
		return err
	}
	if want := f.DOut * f.DIn / f.Pattern.M; len(f.Groups) != want {
		return fmt.Errorf("factored: %d group masks, want %d", len(f.Groups), want)
	}
	kept := 0
	for i, g := range f.Groups {
		if g>>uint(f.Pattern.M) != 0 {
			return fmt.Errorf("factored: group %d has mask %#x with bits beyond M=%d", i, g, f.Pattern.M)
		}
		kept += bits.OnesCount8(g)
	}
	if kept != len(f.Values) {
		return fmt.Errorf("factored: masks keep %d entries but %d values are stored", kept, len(f.Values))
	}
	return nil
}

// StoredParams is the number of stored values: the entries of A's and B's
// diagonal blocks plus the kept entries of the core.
func (f *Factored) StoredParams() int { return len(f.A) + len(f.B) + len(f.Values) }

// WrapperParams is the number of entries of A's and B's diagonal blocks,
// about b·(d_in + d_out).
func (f *Factored) WrapperParams() int { return len(f.A) + len(f.B) }

// Core returns the sparse core S as a dense DOut × DIn matrix.
func (f *Factored) Core() *mat.Dense {
	s := mat.NewDense(f.DOut, f.DIn, nil)
	groups := f.DIn / f.Pattern.M
	v := 0
	for i := 0; i < f.DOut; i++ {
		for g := 0; g < groups; g++ {
			m := f.Groups[i*groups+g]
			for k := 0; k < f.Pattern.M; k++ {
				if m&(1<<k) != 0 {
					s.Set(i, g*f.Pattern.M+k, float64(f.Values[v]))
					v++
				}
			}
		}
	}
	return s
}

// Dense returns the effective weight A·S·B as a linear layer, computed in
// float64 block by block: row block i of A·S is A_i·S[rows_i, :], and
// column block j of (A·S)·B is (A·S)[:, cols_j]·B_j.
func (f *Factored) Dense() (*model.Linear, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	s := f.Core()
	as := mat.NewDense(f.DOut, f.DIn, nil)
	off, r0 := 0, 0
	for _, b := range f.OutBlocks {
		blk := blockMatrix(f.A[off:off+b*b], b)
		as.Slice(r0, r0+b, 0, f.DIn).(*mat.Dense).Mul(blk, s.Slice(r0, r0+b, 0, f.DIn))
		off += b * b
		r0 += b
	}
	w := mat.NewDense(f.DOut, f.DIn, nil)
	off, c0 := 0, 0
	for _, b := range f.InBlocks {
		blk := blockMatrix(f.B[off:off+b*b], b)
		w.Slice(0, f.DOut, c0, c0+b).(*mat.Dense).Mul(as.Slice(0, f.DOut, c0, c0+b), blk)
		off += b * b
		c0 += b
	}
	return denseToLinear(w), nil
}

func blockMatrix(v []float32, b int) *mat.Dense {
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = float64(x)
	}
	return mat.NewDense(b, b, d)
}

// linearToDense widens a linear layer's weights (float32 or 16-bit) to a
// float64 matrix.
func linearToDense(l *model.Linear) *mat.Dense {
	d := make([]float64, l.Out*l.In)
	if !l.IsHalf() {
		for i, x := range l.W {
			d[i] = float64(x)
		}
		return mat.NewDense(l.Out, l.In, d)
	}
	row := make([]float32, l.In)
	for r := 0; r < l.Out; r++ {
		l.RowsFloat32(row, r, r+1)
		for j, x := range row {
			d[r*l.In+j] = float64(x)
		}
	}
	return mat.NewDense(l.Out, l.In, d)
}

// denseToLinear rounds a float64 matrix to a float32 linear layer.
func denseToLinear(m *mat.Dense) *model.Linear {
	r, c := m.Dims()
	l := model.NewLinear(r, c)
	for i := 0; i < r; i++ {
		row := m.RawRowView(i)
		for j, x := range row {
			l.W[i*c+j] = float32(x)
		}
	}
	return l
}
