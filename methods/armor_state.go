package methods

import (
	"fmt"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// ARMORState is ARMOR's factorization in normalized space,
//
//	Ŵn = A · (V⊙M) · B,
//
// with A (d_out × d_out) and B (d_in × d_in) block-diagonal and V⊙M the N:M
// sparse core, together with the quantities its updates share: the residual
// E = A·S·B − W̄ and the product S·B, both kept exact after every update
// (E lazily: see tileSet.eStale).
//
// It is the float64 view of a tileSet (armor_tiles.go), whose kernels do
// the work; the matrices here share the tile set's arrays. float64 is what
// the theory variants need: their loss differences between iterations are
// tiny, and their monotonicity is checked at rounding level. The Adam
// variant can run on a float32 tile set instead (ARMORConfig.Precision).
type ARMORState struct {
	Pattern Pattern
	// A and B are the block-diagonal wrappers (normalized space).
	A, B *BlockDiag
	// V holds the core's values, dense; the core is S = V⊙Mask. Values at
	// pruned positions are kept (they are what Adam's state refers to) but
	// never used.
	V    *mat.Dense
	Mask *Mask

	dOut, dIn int
	wbar      *mat.Dense
	h, sqrtH  []float64
	denom     float64
	threads   int

	S  *mat.Dense // V⊙Mask
	SB *mat.Dense // tile-wise S_ij·B_j
	E  *mat.Dense // A·S·B − W̄

	// Gradient state (allocated on first use, see refreshGrad): G = ∂L/∂Ŵn,
	// T = AᵀG, GS = ∂L/∂S; ts.gradValid reports that they match E.
	G, T, GS *mat.Dense

	// ts is the float64 tile set the kernels run on; it shares every array
	// above (bind).
	ts *tileSet[float64]
}

// bind (re)creates the tile set over the state's arrays.
func (st *ARMORState) bind() {
	st.ts = &tileSet[float64]{
		p: st.Pattern, dOut: st.dOut, dIn: st.dIn,
		la: blockLayout{st.A.Sizes, st.A.Starts}, lb: blockLayout{st.B.Sizes, st.B.Starts},
		A: st.A.Blocks, B: st.B.Blocks,
		V: st.V.RawMatrix().Data, S: st.S.RawMatrix().Data, SB: st.SB.RawMatrix().Data,
		E: st.E.RawMatrix().Data, wbar: st.wbar.RawMatrix().Data, keep: st.Mask.Keep,
		h: st.h, sqrtH: st.sqrtH, denom: st.denom, threads: st.threads,
	}
}

// NewARMORState starts ARMOR at NoWag-P: A = I, B = I, V = W̄ and M the NoWag-P
// mask, so its loss equals NoWag-P's exactly. blockSize must be a positive
// multiple of M; dimensions that are not multiples of it get a smaller last
// block. threads ≤ 0 means all cores.
func NewARMORState(norm *Normalization, hdiag []float64, p Pattern, blockSize, threads int) (*ARMORState, error) {
	dOut, dIn := norm.Wbar.Dims()
	mask, err := checkARMORStart(norm, hdiag, p, blockSize)
	if err != nil {
		return nil, err
	}
	// The float64 tile set holds every array; the state views them.
	ts := newTileSet[float64](norm, hdiag, mask, p, blockSize, threads)
	wrap := func(d []float64) *mat.Dense { return mat.NewDense(dOut, dIn, d) }
	return &ARMORState{
		Pattern: p,
		A:       &BlockDiag{Sizes: ts.la.sizes, Starts: ts.la.starts, Blocks: ts.A},
		B:       &BlockDiag{Sizes: ts.lb.sizes, Starts: ts.lb.starts, Blocks: ts.B},
		V:       wrap(ts.V),
		Mask:    &Mask{Rows: dOut, Cols: dIn, Keep: ts.keep},
		dOut:    dOut, dIn: dIn,
		wbar:    wrap(ts.wbar),
		h:       hdiag,
		sqrtH:   ts.sqrtH,
		denom:   ts.denom,
		threads: threads,
		S:       wrap(ts.S), SB: wrap(ts.SB), E: wrap(ts.E),
		ts: ts,
	}, nil
}

// checkARMORStart validates ARMOR's inputs and returns the starting mask,
// NoWag-P's.
func checkARMORStart(norm *Normalization, hdiag []float64, p Pattern, blockSize int) (*Mask, error) {
	_, dIn := norm.Wbar.Dims()
	if err := p.Check(dIn); err != nil {
		return nil, err
	}
	if blockSize < p.M || blockSize%p.M != 0 {
		return nil, fmt.Errorf("block size %d must be a positive multiple of M=%d", blockSize, p.M)
	}
	if len(hdiag) != dIn {
		return nil, fmt.Errorf("hessian_diag has %d entries, want d_in=%d", len(hdiag), dIn)
	}
	return NoWagMask(norm, hdiag, p)
}

// SetFactors replaces A, B, V and the mask (copied) and recomputes the
// residual. Shapes must match the state's.
func (st *ARMORState) SetFactors(A, B *BlockDiag, V *mat.Dense, M *Mask) error {
	if err := sameBlocks("A", st.A, A); err != nil {
		return err
	}
	if err := sameBlocks("B", st.B, B); err != nil {
		return err
	}
	if r, c := V.Dims(); r != st.dOut || c != st.dIn {
		return fmt.Errorf("V is %d×%d, want %d×%d", r, c, st.dOut, st.dIn)
	}
	if M.Rows != st.dOut || M.Cols != st.dIn {
		return fmt.Errorf("mask is %d×%d, want %d×%d", M.Rows, M.Cols, st.dOut, st.dIn)
	}
	st.A.CopyFrom(A)
	st.B.CopyFrom(B)
	st.V.Copy(V)
	copy(st.Mask.Keep, M.Keep)
	st.Refresh()
	return nil
}

func sameBlocks(name string, want, got *BlockDiag) error {
	if len(want.Sizes) != len(got.Sizes) {
		return fmt.Errorf("%s has %d blocks, want %d", name, len(got.Sizes), len(want.Sizes))
	}
	for k := range want.Sizes {
		if want.Sizes[k] != got.Sizes[k] || len(got.Blocks[k]) != want.Sizes[k]*want.Sizes[k] {
			return fmt.Errorf("%s block %d has size %d, want %d", name, k, got.Sizes[k], want.Sizes[k])
		}
	}
	return nil
}

// Refresh recomputes S = V⊙M, S·B and the residual E from scratch.
func (st *ARMORState) Refresh() { st.ts.refresh() }

// Loss is the proxy loss of the current factorization,
// Σ_ij h_j E_ij² / Σ_ij h_j W̄_ij².
func (st *ARMORState) Loss() float64 { return st.ts.loss() }

// Normalized returns Ŵn = A·S·B as a dense matrix (E + W̄).
func (st *ARMORState) Normalized() *mat.Dense {
	st.ts.settle()
	var out mat.Dense
	out.Add(st.E, st.wbar)
	return &out
}

// Core returns a copy of the sparse core S = V⊙M.
func (st *ARMORState) Core() *mat.Dense { return mat.DenseCopyOf(st.S) }

// Clone returns an independent deep copy of the state.
func (st *ARMORState) Clone() *ARMORState {
	c := *st
	c.A, c.B = st.A.Clone(), st.B.Clone()
	c.V = mat.DenseCopyOf(st.V)
	c.Mask = &Mask{Rows: st.Mask.Rows, Cols: st.Mask.Cols, Keep: append([]bool(nil), st.Mask.Keep...)}
	c.S, c.SB, c.E = mat.DenseCopyOf(st.S), mat.DenseCopyOf(st.SB), mat.DenseCopyOf(st.E)
	c.G, c.T, c.GS = nil, nil, nil
	c.bind()
	return &c
}

// view returns the (r0, c0) sub-block of m with the given size, sharing data.
func view(m *mat.Dense, r0, rs, c0, cs int) blas64.General {
	raw := m.RawMatrix()
	return blas64.General{Rows: rs, Cols: cs, Stride: raw.Stride, Data: raw.Data[r0*raw.Stride+c0:]}
}

// blockView returns block k of bd as a general matrix.
func blockView(bd *BlockDiag, k int) blas64.General {
	s := bd.Sizes[k]
	return blas64.General{Rows: s, Cols: s, Stride: s, Data: bd.Blocks[k]}
}

// refreshGrad recomputes G, T = AᵀG and GS = ∂L/∂S from the residual E (see
// tileSet.refreshGrad).
func (st *ARMORState) refreshGrad() {
	st.ts.refreshGrad()
	if st.G == nil {
		st.G = mat.NewDense(st.dOut, st.dIn, st.ts.G)
		st.T = mat.NewDense(st.dOut, st.dIn, st.ts.Tg)
		st.GS = mat.NewDense(st.dOut, st.dIn, st.ts.GS)
	}
}

// blockGrads computes the gradients with respect to A's and B's diagonal
// blocks for the non-nil outputs (see tileSet.blockGrads).
func (st *ARMORState) blockGrads(gA, gB *BlockDiag) {
	if !st.ts.gradValid {
		st.refreshGrad()
	}
	var a, b [][]float64
	if gA != nil {
		a = gA.Blocks
	}
	if gB != nil {
		b = gB.Blocks
	}
	st.ts.blockGrads(a, b)
}
