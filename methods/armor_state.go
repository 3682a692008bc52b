package methods

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// ARMORState is ARMOR's factorization in normalized space,
//
//	Ŵn = A · (V⊙M) · B,
//
// with A (d_out × d_out) and B (d_in × d_in) block-diagonal and V⊙M the N:M
// sparse core, together with the quantities its updates share: the residual
// E = A·S·B − W̄ and the product S·B, both kept exact after every update.
//
// Because A and B are block-diagonal, everything splits into tiles: tile
// (i, j) of Ŵn is A_i·S_ij·B_j. Kernels run tile by tile with BLAS, in
// parallel over row or column blocks; each goroutine owns whole blocks and
// sums in a fixed order, so results are bitwise identical whatever the number
// of threads. Everything is float64: the proxy loss is a ratio of sums over
// d_out·d_in terms whose differences between iterations are tiny, and
// float32 residuals would hide them.
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
	// T = AᵀG, GS = ∂L/∂S. gradValid reports that they match E.
	G, T, GS  *mat.Dense
	gradValid bool
}

// NewARMORState starts ARMOR at NoWag-P: A = I, B = I, V = W̄ and M the NoWag-P
// mask, so its loss equals NoWag-P's exactly. blockSize must be a positive
// multiple of M; dimensions that are not multiples of it get a smaller last
// block. threads ≤ 0 means all cores.
func NewARMORState(norm *Normalization, hdiag []float64, p Pattern, blockSize, threads int) (*ARMORState, error) {
	dOut, dIn := norm.Wbar.Dims()
	if err := p.Check(dIn); err != nil {
		return nil, err
	}
	if blockSize < p.M || blockSize%p.M != 0 {
		return nil, fmt.Errorf("block size %d must be a positive multiple of M=%d", blockSize, p.M)
	}
	if len(hdiag) != dIn {
		return nil, fmt.Errorf("hessian_diag has %d entries, want d_in=%d", len(hdiag), dIn)
	}
	mask, err := NoWagMask(norm, hdiag, p)
	if err != nil {
		return nil, err
	}
	st := &ARMORState{
		Pattern: p,
		A:       NewBlockDiagIdentity(dOut, blockSize),
		B:       NewBlockDiagIdentity(dIn, blockSize),
		V:       mat.DenseCopyOf(norm.Wbar),
		Mask:    mask,
		dOut:    dOut, dIn: dIn,
		wbar:    norm.Wbar,
		h:       hdiag,
		sqrtH:   make([]float64, dIn),
		denom:   norm.ProxyDenominator(hdiag),
		threads: threads,
		S:       mat.NewDense(dOut, dIn, nil),
		SB:      mat.NewDense(dOut, dIn, nil),
		E:       mat.NewDense(dOut, dIn, nil),
	}
	for j, v := range hdiag {
		st.sqrtH[j] = math.Sqrt(v)
	}
	st.Refresh()
	return st, nil
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
func (st *ARMORState) Refresh() {
	s, v := st.S.RawMatrix().Data, st.V.RawMatrix().Data
	for k, keep := range st.Mask.Keep {
		if keep {
			s[k] = v[k]
		} else {
			s[k] = 0
		}
	}
	st.forward()
	st.gradValid = false
}

// Loss is the proxy loss of the current factorization,
// Σ_ij h_j E_ij² / Σ_ij h_j W̄_ij².
func (st *ARMORState) Loss() float64 {
	return st.weightedSq(st.E) / st.denom
}

func (st *ARMORState) weightedSq(m *mat.Dense) float64 {
	raw := m.RawMatrix()
	// Per-row partial sums, then a fixed-order total: deterministic and
	// accurate enough (float64 throughout).
	rows := make([]float64, raw.Rows)
	parallelFor(raw.Rows, st.threads, func(i int) {
		s := 0.0
		for j, e := range raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols] {
			s += st.h[j] * e * e
		}
		rows[i] = s
	})
	t := 0.0
	for _, s := range rows {
		t += s
	}
	return t
}

// Normalized returns Ŵn = A·S·B as a dense matrix (E + W̄).
func (st *ARMORState) Normalized() *mat.Dense {
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
	c.G, c.T, c.GS, c.gradValid = nil, nil, nil, false
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

// forward computes SB_ij = S_ij·B_j and E_ij = A_i·SB_ij − W̄_ij for all tiles.
// The tile products are batched into panels: S·B is one (d_out × b)·(b × b)
// product per column block, A·(SB) one (b × b)·(b × d_in) product per row
// block, which BLAS runs far faster than b³-sized tiles.
func (st *ARMORState) forward() {
	parallelFor(len(st.B.Sizes), st.threads, func(j int) {
		c0, cs := st.B.Starts[j], st.B.Sizes[j]
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, view(st.S, 0, st.dOut, c0, cs), blockView(st.B, j), 0, view(st.SB, 0, st.dOut, c0, cs))
	})
	wbar := st.wbar.RawMatrix().Data
	parallelFor(len(st.A.Sizes), st.threads, func(i int) {
		r0, rs := st.A.Starts[i], st.A.Sizes[i]
		e := view(st.E, r0, rs, 0, st.dIn)
		copy(e.Data[:rs*st.dIn], wbar[r0*st.dIn:(r0+rs)*st.dIn])
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, blockView(st.A, i), view(st.SB, r0, rs, 0, st.dIn), -1, e)
	})
}

// refreshGrad recomputes, from the residual E, the gradient with respect to
// the dense product G = ∂L/∂Ŵn = 2·E·diag(h)/denom, its image T = AᵀG (block
// rows) and the core gradient GS = ∂L/∂S = T·Bᵀ (pruned entries included).
// The sparse-core step keeps all three exact through rank-one updates until
// the next Refresh.
func (st *ARMORState) refreshGrad() {
	if st.G == nil {
		st.G = mat.NewDense(st.dOut, st.dIn, nil)
		st.T = mat.NewDense(st.dOut, st.dIn, nil)
		st.GS = mat.NewDense(st.dOut, st.dIn, nil)
	}
	g, e := st.G.RawMatrix(), st.E.RawMatrix()
	scale := 2 / st.denom
	parallelFor(len(st.A.Sizes), st.threads, func(i int) {
		r0, rs := st.A.Starts[i], st.A.Sizes[i]
		for r := r0; r < r0+rs; r++ {
			gr, er := g.Data[r*g.Stride:r*g.Stride+st.dIn], e.Data[r*e.Stride:r*e.Stride+st.dIn]
			for j, v := range er {
				gr[j] = scale * st.h[j] * v
			}
		}
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, blockView(st.A, i), view(st.G, r0, rs, 0, st.dIn), 0, view(st.T, r0, rs, 0, st.dIn))
	})
	parallelFor(len(st.B.Sizes), st.threads, func(j int) {
		c0, cs := st.B.Starts[j], st.B.Sizes[j]
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, view(st.T, 0, st.dOut, c0, cs), blockView(st.B, j), 0, view(st.GS, 0, st.dOut, c0, cs))
	})
	st.gradValid = true
}

// blockGrads computes, from the current G and T (refreshGrad), the gradients
// with respect to the diagonal blocks of A and B, for the non-nil outputs:
//
//	gA_i = G[i,:]·SB[i,:]ᵀ      gB_j = S[:, j]ᵀ·T[:, j]
func (st *ARMORState) blockGrads(gA, gB *BlockDiag) {
	if !st.gradValid {
		st.refreshGrad()
	}
	if gA != nil {
		parallelFor(len(st.A.Sizes), st.threads, func(i int) {
			r0, rs := st.A.Starts[i], st.A.Sizes[i]
			blas64.Gemm(blas.NoTrans, blas.Trans, 1, view(st.G, r0, rs, 0, st.dIn), view(st.SB, r0, rs, 0, st.dIn), 0, blockView(gA, i))
		})
	}
	if gB != nil {
		parallelFor(len(st.B.Sizes), st.threads, func(j int) {
			c0, cs := st.B.Starts[j], st.B.Sizes[j]
			blas64.Gemm(blas.Trans, blas.NoTrans, 1, view(st.S, 0, st.dOut, c0, cs), view(st.T, 0, st.dOut, c0, cs), 0, blockView(gB, j))
		})
	}
}
