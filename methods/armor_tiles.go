package methods

import (
	"math"
	"slices"

	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/blas"
)

// tileSet is the working set of ARMOR's factorization Ŵn = A·(V⊙M)·B in
// normalized space, in storage type T: the diagonal blocks of A and B, the
// core values V, the mask, S = V⊙M, S·B (tile-wise S_ij·B_j), the residual
// E = A·S·B − W̄ and, once refreshGrad has run, the gradients G = ∂L/∂Ŵn,
// Tg = AᵀG and GS = ∂L/∂S. All d_out × d_in arrays are row-major with stride
// d_in.
//
// Tile (i, j) of Ŵn is A_i·S_ij·B_j, so every kernel splits into panels: a
// product per column block (d_out × b times b × b) or per row block (b × b
// times b × d_in), run in parallel over blocks. Each goroutine owns whole
// blocks and sums in a fixed order, so results are bitwise identical
// whatever the number of threads.
type tileSet[T float] struct {
	p         Pattern
	dOut, dIn int
	la, lb    blockLayout
	A, B      [][]T // diagonal blocks, row-major
	bT        [][]T // B's blocks transposed, by the sparse-core step (transposeB)

	V, S, SB, E, wbar []T
	keep              []bool
	eStale            bool      // E lags S·B (sparseCoreStep with lazyE); forward fixes it
	rowSums           []float64 // per-row Σ_j h_j E_ij², scratch of loss and refreshGrad
	G, Tg, GS         []T       // nil until refreshGrad
	gradValid         bool
	pending           *pendingGrad[T] // sparseCoreStep's gradient changes, reused
	yBuf              []float64       // sparseCoreStep's first-group y vectors, reused
	wSel              []float64       // selectGroups' group weights, reused
	// selWeights asks refreshGrad to compute wSel from each column block of
	// GS while it is still in cache; wSelValid says wSel matches GS.
	selWeights, wSelValid bool

	h, sqrtH []float64 // Hessian diagonal and its square roots
	hT       []T       // h in storage type, for the gradient
	denom    float64
	threads  int
}

// sub returns the (r0, c0) sub-block of a d_out × d_in array m.
func (ts *tileSet[T]) sub(m []T, r0, rs, c0, cs int) kernel.Mat[T] {
	return kernel.Mat[T]{Rows: rs, Cols: cs, Stride: ts.dIn, Data: m[r0*ts.dIn+c0:]}
}

// blk returns diagonal block k of blocks as a matrix.
func blk[T float](blocks [][]T, k int, l blockLayout) kernel.Mat[T] {
	s := l.sizes[k]
	return kernel.Mat[T]{Rows: s, Cols: s, Stride: s, Data: blocks[k]}
}

// tileOf returns the tile (row block, column block) holding group g.
func (ts *tileSet[T]) tileOf(g Group) (int, int) {
	return ts.la.blockOf(g.Row), ts.lb.blockOf(g.Col)
}

// refresh recomputes S = V⊙M, S·B and E from scratch and marks the
// gradients stale.
func (ts *tileSet[T]) refresh() {
	kernel.For(ts.dOut, ts.threads, func(i int) {
		lo, hi := i*ts.dIn, (i+1)*ts.dIn
		s, v, keep := ts.S[lo:hi], ts.V[lo:hi], ts.keep[lo:hi]
		kernel.KeepCopy(s, v, keep)
	})
	ts.forward()
	ts.gradValid = false
}

// forward computes SB_ij = S_ij·B_j and E_ij = A_i·SB_ij − W̄_ij for all
// tiles: one (d_out × b)·(b × b) product per column block, then one
// (b × b)·(b × d_in) product per row block, which BLAS runs far faster than
// b³-sized tiles.
func (ts *tileSet[T]) forward() {
	ts.forwardSB()
	ts.residual()
}

// forwardSB computes SB_ij = S_ij·B_j for all tiles.
func (ts *tileSet[T]) forwardSB() {
	ts.colBlocks(func(r0, rs, j int) {
		c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
		kernel.MulAdd(blas.NoTrans, blas.NoTrans, ts.sub(ts.S, r0, rs, c0, cs), blk(ts.B, j, ts.lb), ts.sub(ts.SB, r0, rs, c0, cs), nil, false)
	})
}

// colChunkRows is how many rows colBlocks gives a task when blocks are
// narrow: a multiple of the strip kernels' 6 rows.
const colChunkRows = 48

// colBlocks runs f(r0, rs, j) in parallel over pieces of the column-block
// products (rows r0 … r0+rs−1 of column block j) that together cover every
// row of every column block once. With blocks of at most 64 columns a task
// is a chunk of colChunkRows rows across all column blocks, so it reads its
// rows from left to right in one stream; otherwise a task is a whole column
// block. Each piece's results do not depend on the split.
func (ts *tileSet[T]) colBlocks(f func(r0, rs, j int)) {
	nb := len(ts.lb.sizes)
	if slices.Max(ts.lb.sizes) > 64 {
		kernel.For(nb, ts.threads, func(j int) { f(0, ts.dOut, j) })
		return
	}
	kernel.For((ts.dOut+colChunkRows-1)/colChunkRows, ts.threads, func(c int) {
		r0 := c * colChunkRows
		rs := min(colChunkRows, ts.dOut-r0)
		for j := 0; j < nb; j++ {
			f(r0, rs, j)
		}
	})
}

// residual computes E_ij = A_i·SB_ij − W̄_ij from the current S·B, one
// (b × b)·(b × d_in) product per row block.
func (ts *tileSet[T]) residual() {
	kernel.For(len(ts.la.sizes), ts.threads, ts.residualRows)
	ts.eStale = false
}

// residualRows is residual's task for row block i.
func (ts *tileSet[T]) residualRows(i int) {
	r0, rs := ts.la.starts[i], ts.la.sizes[i]
	// E = −W̄ + A_i·SB: with BLAS, E = −W̄ first and then β = 1, the same
	// arithmetic as copying W̄ and calling gemm with β = −1 without BLAS's
	// separate pass that scales E by β.
	w := ts.sub(ts.wbar, r0, rs, 0, ts.dIn)
	kernel.MulAdd(blas.NoTrans, blas.NoTrans, blk(ts.A, i, ts.la), ts.sub(ts.SB, r0, rs, 0, ts.dIn), ts.sub(ts.E, r0, rs, 0, ts.dIn), &w, true)
}

// settle brings E up to date after a lazy sparse-core step.
func (ts *tileSet[T]) settle() {
	if ts.eStale {
		ts.forward()
	}
}

// loss is the proxy loss Σ_ij h_j E_ij² / Σ_ij h_j W̄_ij².
func (ts *tileSet[T]) loss() float64 {
	ts.settle()
	sums := ts.sums()
	kernel.For(ts.dOut, ts.threads, func(i int) {
		sums[i] = weightedSq(ts.E[i*ts.dIn:(i+1)*ts.dIn], ts.h, nil, nil)
	})
	return ts.totalSum() / ts.denom
}

// weightedSq returns Σ_j h_j·e_j² of one row of E, in float64 with four
// partial sums (interleaved columns, added as (s0+s1)+(s2+s3)): one chain of
// dependent additions would bound the loop by the adder's latency. With g
// given it also writes g = hs⊙e, the row of the gradient, in the same loop.
func weightedSq[T float](e []T, h []float64, g, hs []T) float64 {
	h = h[:len(e)]
	var s0, s1, s2, s3 float64
	j := 0
	if g != nil {
		g, hs = g[:len(e)], hs[:len(e)]
		for ; j+4 <= len(e); j += 4 {
			e0, e1, e2, e3 := e[j], e[j+1], e[j+2], e[j+3]
			g[j], g[j+1], g[j+2], g[j+3] = hs[j]*e0, hs[j+1]*e1, hs[j+2]*e2, hs[j+3]*e3
			x0, x1, x2, x3 := float64(e0), float64(e1), float64(e2), float64(e3)
			s0 += float64(h[j] * x0 * x0)
			s1 += float64(h[j+1] * x1 * x1)
			s2 += float64(h[j+2] * x2 * x2)
			s3 += float64(h[j+3] * x3 * x3)
		}
		for k := j; k < len(e); k++ {
			g[k] = hs[k] * e[k]
		}
	}
	for ; j+4 <= len(e); j += 4 {
		x0, x1, x2, x3 := float64(e[j]), float64(e[j+1]), float64(e[j+2]), float64(e[j+3])
		s0 += float64(h[j] * x0 * x0)
		s1 += float64(h[j+1] * x1 * x1)
		s2 += float64(h[j+2] * x2 * x2)
		s3 += float64(h[j+3] * x3 * x3)
	}
	for ; j < len(e); j++ {
		x := float64(e[j])
		s0 += float64(h[j] * x * x)
	}
	return (s0 + s1) + (s2 + s3)
}

// sums returns the per-row scratch of loss and refreshGrad.
func (ts *tileSet[T]) sums() []float64 {
	if ts.rowSums == nil {
		ts.rowSums = make([]float64, ts.dOut)
	}
	return ts.rowSums
}

// totalSum adds the per-row sums in row order: Σ_ij h_j E_ij², accumulated
// in float64 and independent of the number of threads.
func (ts *tileSet[T]) totalSum() float64 {
	t := 0.0
	for _, s := range ts.rowSums {
		t += s
	}
	return t
}

// refreshGrad recomputes, from the residual E, G = ∂L/∂Ŵn = 2·E·diag(h)/denom,
// its image Tg = AᵀG (block rows) and the core gradient GS = ∂L/∂S = Tg·Bᵀ
// (pruned entries included). The sparse-core step keeps all three exact
// through rank-one updates until the next refresh. Reading E anyway, it
// returns Σ_ij h_j E_ij² (the loss times denom, summed as loss does).
func (ts *tileSet[T]) refreshGrad() float64 {
	ts.settle()
	ts.gradPrep()
	kernel.For(len(ts.la.sizes), ts.threads, ts.gradRows)
	return ts.gradCols()
}

// forwardGrad is forward followed by refreshGrad with the same results, but
// each row block's residual, G and Tg are computed one after another while
// the block is in cache, instead of in separate passes over E and G.
func (ts *tileSet[T]) forwardGrad() float64 {
	ts.forwardSB()
	ts.gradPrep()
	kernel.For(len(ts.la.sizes), ts.threads, func(i int) {
		ts.residualRows(i)
		ts.gradRows(i)
	})
	ts.eStale = false
	return ts.gradCols()
}

// gradPrep readies refreshGrad's buffers: G, Tg, GS, h in the storage type
// scaled by 2/denom, and the row sums.
func (ts *tileSet[T]) gradPrep() {
	if ts.G == nil {
		n := ts.dOut * ts.dIn
		ts.G, ts.Tg, ts.GS = make([]T, n), make([]T, n), make([]T, n)
	}
	if ts.hT == nil {
		ts.hT = make([]T, ts.dIn)
	}
	scale := 2 / ts.denom
	for j, v := range ts.h {
		ts.hT[j] = T(scale * v)
	}
	ts.sums()
}

// gradRows is refreshGrad's task for row block i: G and the row sums from
// E, then Tg = A_iᵀ·G.
func (ts *tileSet[T]) gradRows(i int) {
	r0, rs := ts.la.starts[i], ts.la.sizes[i]
	for r := r0; r < r0+rs; r++ {
		ts.rowSums[r] = weightedSq(ts.E[r*ts.dIn:(r+1)*ts.dIn], ts.h, ts.G[r*ts.dIn:(r+1)*ts.dIn], ts.hT)
	}
	kernel.MulAdd(blas.Trans, blas.NoTrans, blk(ts.A, i, ts.la), ts.sub(ts.G, r0, rs, 0, ts.dIn), ts.sub(ts.Tg, r0, rs, 0, ts.dIn), nil, false)
}

// gradCols finishes refreshGrad: GS = Tg·Bᵀ by column blocks (and the
// selection weights from each piece while it is in cache); it returns
// Σ_ij h_j E_ij².
func (ts *tileSet[T]) gradCols() float64 {
	var wAll []float64
	if ts.selWeights {
		wAll = ts.groupWeights()
	}
	ts.colBlocks(func(r0, rs, j int) {
		c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
		kernel.MulAdd(blas.NoTrans, blas.Trans, ts.sub(ts.Tg, r0, rs, c0, cs), blk(ts.B, j, ts.lb), ts.sub(ts.GS, r0, rs, c0, cs), nil, false)
		if wAll != nil {
			ts.groupWeightsCols(wAll, r0, rs, c0, cs)
		}
	})
	ts.gradValid, ts.wSelValid = true, wAll != nil
	return ts.totalSum()
}

// groupWeights returns the buffer of the selection's group weights, one per
// N:M group of GS (d_out × d_in/M, row-major).
func (ts *tileSet[T]) groupWeights() []float64 {
	if n := ts.dOut * (ts.dIn / ts.p.M); len(ts.wSel) != n {
		ts.wSel = make([]float64, n)
	}
	return ts.wSel
}

// groupWeightsCols writes into wAll the weights of the groups in rows
// r0..r0+rs and columns c0..c0+cs (whole groups): the L1 norm of GS over
// each group, summed in column order in float64.
func (ts *tileSet[T]) groupWeightsCols(wAll []float64, r0, rs, c0, cs int) {
	M := ts.p.M
	gPerRow := ts.dIn / M
	if M == 4 {
		kernel.GroupL1(wAll[r0*gPerRow+c0/M:], gPerRow, ts.GS[r0*ts.dIn+c0:], ts.dIn, rs, cs/M)
		return
	}
	for r := r0; r < r0+rs; r++ {
		row := ts.GS[r*ts.dIn+c0 : r*ts.dIn+c0+cs]
		wr := wAll[r*gPerRow+c0/M : r*gPerRow+(c0+cs)/M]
		for q := range wr {
			s := 0.0
			for _, x := range row[q*M : (q+1)*M] {
				s += math.Abs(float64(x))
			}
			wr[q] = s
		}
	}
}

// blockGrads computes, from the current gradients (refreshGrad when stale),
// the gradients with respect to the diagonal blocks of A and B, for the
// non-nil outputs:
//
//	gA_i = G[i,:]·SB[i,:]ᵀ      gB_j = S[:, j]ᵀ·Tg[:, j]
func (ts *tileSet[T]) blockGrads(gA, gB [][]T) {
	if !ts.gradValid {
		ts.refreshGrad()
	}
	if gA != nil {
		kernel.For(len(ts.la.sizes), ts.threads, func(i int) {
			r0, rs := ts.la.starts[i], ts.la.sizes[i]
			kernel.MulAdd(blas.NoTrans, blas.Trans, ts.sub(ts.G, r0, rs, 0, ts.dIn), ts.sub(ts.SB, r0, rs, 0, ts.dIn), blk(gA, i, ts.la), nil, false)
		})
	}
	if gB != nil {
		nb := len(ts.lb.sizes)
		if slices.Max(ts.lb.sizes) > 64 {
			kernel.For(nb, ts.threads, func(j int) {
				c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
				kernel.MulAdd(blas.Trans, blas.NoTrans, ts.sub(ts.S, 0, ts.dOut, c0, cs), ts.sub(ts.Tg, 0, ts.dOut, c0, cs), blk(gB, j, ts.lb), nil, false)
			})
			return
		}
		// Narrow blocks: each task owns a contiguous range of column blocks
		// (four ranges per worker, for balance) and walks the rows in
		// chunks, reading each row's range in one stream. A chunk continues
		// the previous chunk's sums (f = gB_j), which is the same arithmetic
		// as one product over all rows.
		nw := min(nb, 4*kernel.Workers(nb, ts.threads))
		kernel.For(nw, ts.threads, func(w int) {
			for p0 := 0; p0 < ts.dOut; p0 += colChunkRows * 4 {
				ps := min(colChunkRows*4, ts.dOut-p0)
				for j := w * nb / nw; j < (w+1)*nb/nw; j++ {
					c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
					var f *kernel.Mat[T]
					if p0 > 0 {
						g := blk(gB, j, ts.lb)
						f = &g
					}
					kernel.MulAdd(blas.Trans, blas.NoTrans, ts.sub(ts.S, p0, ps, c0, cs), ts.sub(ts.Tg, p0, ps, c0, cs), blk(gB, j, ts.lb), f, false)
				}
			}
		})
	}
}

// convertSlice returns src converted element-wise to type T.
func convertSlice[T, S float](src []S) []T {
	out := make([]T, len(src))
	for k, v := range src {
		out[k] = T(v)
	}
	return out
}

// newTileSet builds a working set in storage type T at the factorization
// A = I, B = I, V = W̄ with the given mask (NoWag-P's at ARMOR's start).
func newTileSet[T float](norm *Normalization, hdiag []float64, mask *Mask, p Pattern, blockSize, threads int) *tileSet[T] {
	dOut, dIn := norm.Wbar.Dims()
	ts := &tileSet[T]{
		p: p, dOut: dOut, dIn: dIn,
		keep:  append([]bool(nil), mask.Keep...),
		h:     hdiag,
		sqrtH: make([]float64, dIn),
		denom: norm.ProxyDenominator(hdiag), threads: threads,
	}
	for j, v := range hdiag {
		ts.sqrtH[j] = math.Sqrt(v)
	}
	ts.la, ts.lb = newBlockLayout(dOut, blockSize), newBlockLayout(dIn, blockSize)
	ts.A, ts.B = identityBlocks[T](ts.la), identityBlocks[T](ts.lb)
	n := dOut * dIn
	if raw := norm.Wbar.RawMatrix(); raw.Stride == dIn {
		if w, ok := any(raw.Data).([]T); ok {
			ts.wbar = w[:n] // float64: share W̄, which nothing writes
		}
	}
	if ts.wbar == nil {
		ts.wbar = make([]T, n)
		for i := 0; i < dOut; i++ {
			for j, v := range norm.Wbar.RawRowView(i) {
				ts.wbar[i*dIn+j] = T(v)
			}
		}
	}
	ts.V = append([]T(nil), ts.wbar...)
	ts.S, ts.SB, ts.E = make([]T, n), make([]T, n), make([]T, n)
	ts.refresh()
	return ts
}
