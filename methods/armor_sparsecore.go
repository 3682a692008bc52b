package methods

import (
	"fmt"
	"math"
	"slices"

	"github.com/prunebench/armor/internal/kernel"
)

// Group names one N:M group of the core: row Row and input columns
// Col..Col+M−1 (Col a multiple of M), in global coordinates.
type Group struct {
	Row, Col int
}

// Guards of the sparse-core step, as in the authors' code: a ridge on each
// support's Gram matrix and a floor on ‖a‖².
const (
	gramRidge = 1e-9
	aNormEps  = 1e-8
)

// TileCount returns the number of row and column blocks.
func (st *ARMORState) TileCount() (rowBlocks, colBlocks int) {
	return len(st.A.Sizes), len(st.B.Sizes)
}

// TileOf returns the tile (row block, column block) holding group g.
func (st *ARMORState) TileOf(g Group) (int, int) {
	return st.ts.tileOf(g)
}

// SparseCoreStep updates the support and values of the given groups, each
// exactly minimizing the loss over its C(M, N) supports and their values with
// everything else fixed:
//
// Let a = column ρ of A_i (ρ the group's row inside its tile), B̃ = the M rows
// of B_j for the group's columns, each column v scaled by sqrt(h_v), and
// R = the weighted tile residual with the group's values removed. The tile
// loss as a function of the group's values s is ‖R‖² + 2fᵀs + ‖a‖²·sᵀB̃B̃ᵀs
// with f = B̃·Rᵀ·a. For each support P (in Pattern.Supports order):
// G_P = B̃_P·B̃_Pᵀ + 1e-9·I, cost_P = −f_Pᵀ·G_P⁻¹·f_P; the first support of
// least cost wins and its values are s_P = −G_P⁻¹·f_P/(‖a‖² + 1e-8).
//
// A group only affects its own tile, so tiles are solved in parallel. Several
// groups of one tile are solved one after another, in the order given, each
// from the residual its predecessors left, so every update stays exact. With
// monotone set, a group whose new values would not lower the exact loss
// (possible only through the two guards) is left as it was, so the step never
// increases the loss even by rounding. It returns how many groups changed
// support.
func (st *ARMORState) SparseCoreStep(groups []Group, monotone bool) (changed int, err error) {
	changed, _, err = st.ts.sparseCoreStep(groups, monotone, false)
	return changed, err
}

// sparseCoreStep is SparseCoreStep on a tile set of either precision; the
// per-group algebra is float64 whatever the storage type. It also returns the
// exact change of the weighted squared residual Σ h_j E_ij² (the loss times
// denom) that the groups made.
//
// With lazy set (the Adam variant, which recomputes E right after and gets
// the loss from the returned change), tiles that get a single group skip the
// rank-one update of E, which is then marked stale and rebuilt by forward
// before anything reads it. S, S·B and the gradients are kept exact.
func (ts *tileSet[T]) sparseCoreStep(groups []Group, monotone, lazy bool) (changed int, dSum float64, err error) {
	p := ts.p
	nc := len(ts.lb.sizes)
	nTiles := len(ts.la.sizes) * nc
	// Bucket the groups by tile, keeping their order within a tile.
	tileOf := make([]int, len(groups))
	start := make([]int, nTiles+1)
	for k, g := range groups {
		if g.Row < 0 || g.Row >= ts.dOut || g.Col < 0 || g.Col+p.M > ts.dIn || g.Col%p.M != 0 {
			return 0, 0, fmt.Errorf("group (row %d, col %d) is outside the %d×%d core or not aligned to M=%d", g.Row, g.Col, ts.dOut, ts.dIn, p.M)
		}
		i, j := ts.tileOf(g)
		tileOf[k] = i*nc + j
		start[tileOf[k]+1]++
	}
	for t := 0; t < nTiles; t++ {
		start[t+1] += start[t]
	}
	order := make([]int, len(groups))
	fill := append([]int(nil), start[:nTiles]...)
	for k, t := range tileOf {
		order[fill[t]] = k
		fill[t]++
	}
	supports := p.Supports()
	ts.settle()
	flags := make([]bool, len(groups))
	deltas := make([]float64, len(groups))
	maxB := max(slices.Max(ts.la.sizes), slices.Max(ts.lb.sizes))
	var pend *pendingGrad[T]
	if ts.gradValid {
		pend = ts.pendingFor(len(groups), maxB)
		ts.transposeB()
	}
	var yFirst []float64
	if ts.gradValid {
		yFirst = ts.firstGroupYFromTg(groups, order, start, maxB)
	} else {
		yFirst = ts.firstGroupY(groups, order, start, maxB)
	}
	scratch := make([]*groupScratch[T], kernel.Workers(nTiles, ts.threads))
	kernel.ForWorker(nTiles, ts.threads, func(w, t int) {
		idxs := order[start[t]:start[t+1]]
		if len(idxs) == 0 {
			return
		}
		if scratch[w] == nil {
			scratch[w] = newGroupScratch[T](p, maxB)
		}
		skipE := lazy && len(idxs) == 1
		for q, idx := range idxs {
			var y []float64
			if q == 0 {
				y = yFirst[t*maxB : (t+1)*maxB]
			}
			flags[idx], deltas[idx] = ts.updateGroup(groups[idx], idx, y, supports, monotone, skipE, pend, scratch[w])
		}
	})
	if pend != nil {
		ts.applyPendingGrad(pend, order, start)
	}
	for k, f := range flags {
		if f {
			changed++
		}
		dSum += deltas[k]
	}
	for t := 0; t < nTiles; t++ {
		if lazy && start[t+1]-start[t] == 1 {
			ts.eStale = true
			break
		}
	}
	return changed, dSum, nil
}

// updateGroup solves one group (see SparseCoreStep) and updates V, the mask,
// S, S·B and E (and the gradients when they are current). It touches only the
// group's tile (E only unless skipE). It reports whether the support changed
// and the exact change of the tile's weighted squared residual.
//
// When the gradients are current (pend non-nil), their rank-one changes are
// recorded in pend at slot and applied after all groups (applyPendingGrad):
// no group's solve reads them, and applying them row by row streams through
// memory instead of hopping between the rows of scattered tiles.
func (ts *tileSet[T]) updateGroup(g Group, slot int, yPre []float64, supports [][]int, monotone, skipE bool, pend *pendingGrad[T], sc *groupScratch[T]) (bool, float64) {
	p := ts.p
	M := p.M
	i, j := ts.tileOf(g)
	r0, rs := ts.la.starts[i], ts.la.sizes[i]
	c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
	rho, k0 := g.Row-r0, g.Col-c0
	Ai, Bj := ts.A[i], ts.B[j]
	stride := ts.dIn

	a := sc.a[:rs]
	aa := 0.0
	for u := 0; u < rs; u++ {
		a[u] = float64(Ai[u*rs+rho])
		aa += float64(a[u] * a[u])
	}
	// B̃: M × cs, B_j's rows k0..k0+M−1 with columns scaled by sqrt(h).
	bt := sc.bt[:M*cs]
	sqrtH := ts.sqrtH[c0 : c0+cs]
	for q := 0; q < M; q++ {
		row := Bj[(k0+q)*cs : (k0+q+1)*cs]
		btq := bt[q*cs : (q+1)*cs]
		for v, b := range row {
			btq[v] = float64(b) * sqrtH[v]
		}
	}
	// y = E_tile(weighted)ᵀ·a (precomputed for a tile's first group).
	y := sc.y[:cs]
	if yPre != nil {
		copy(y, yPre[:cs])
	} else {
		clear(y)
		for u := 0; u < rs; u++ {
			au := a[u]
			if au == 0 {
				continue
			}
			row := ts.E[(r0+u)*stride+c0 : (r0+u)*stride+c0+cs]
			for v, ev := range row {
				y[v] += float64(ev) * au
			}
		}
	}
	for v := range y {
		y[v] *= sqrtH[v]
	}
	// Gram matrix B̃·B̃ᵀ (M × M) and the group's current values.
	gram := sc.gram[:M*M]
	for q := 0; q < M; q++ {
		for r := q; r < M; r++ {
			s := 0.0
			bq, br := bt[q*cs:(q+1)*cs], bt[r*cs:(r+1)*cs]
			for v := range bq {
				s += bq[v] * br[v]
			}
			gram[q*M+r], gram[r*M+q] = s, s
		}
	}
	off := g.Row*stride + g.Col
	sRow := ts.S[off : off+M]
	old := sc.old[:M]
	for q, x := range sRow {
		old[q] = float64(x)
	}
	// f = B̃·Rᵀ·a = B̃·y − ‖a‖²·(B̃B̃ᵀ)·s_old.
	f := sc.f[:M]
	for q := 0; q < M; q++ {
		s := 0.0
		bq := bt[q*cs : (q+1)*cs]
		for v := range bq {
			s += bq[v] * y[v]
		}
		gs := 0.0
		for r := 0; r < M; r++ {
			gs += gram[q*M+r] * old[r]
		}
		f[q] = s - aa*gs
	}
	bestX := sc.bestX[:p.N]
	bestP := bestSupport(f, gram, supports, sc.sub[:p.N*p.N], sc.rhs[:p.N], sc.x[:p.N], bestX)
	if pend != nil {
		pend.used[slot] = false
	}
	if bestP == nil {
		return false, 0
	}
	// The new values, rounded to the storage type (a no-op for float64).
	nw := clear0(sc.nw[:M])
	for q, pq := range bestP {
		nw[pq] = float64(T(-bestX[q] / (aa + aNormEps)))
	}
	// Exact change of the tile loss: q(s) = 2fᵀs + ‖a‖²·sᵀGs.
	dq := quadValue(f, gram, aa, nw) - quadValue(f, gram, aa, old)
	if monotone && !(dq < 0) {
		return false, 0
	}
	changed := false
	keep := ts.keep[off : off+M]
	inP := sc.inP[:M]
	clear(inP)
	for _, pq := range bestP {
		inP[pq] = true
	}
	vRow := ts.V[off : off+M]
	delta := sc.delta[:M]
	for q := 0; q < M; q++ {
		if keep[q] != inP[q] {
			changed = true
		}
		keep[q] = inP[q]
		nv := T(nw[q])
		if inP[q] {
			vRow[q] = nv
		}
		delta[q] = float64(nv) - old[q]
		sRow[q] = nv
	}
	// Rank-one updates: SB row ρ += Δsᵀ·B_j[k0:k0+M, :], E_tile += a·(that).
	dsb := clear0(sc.dsb[:cs])
	for q := 0; q < M; q++ {
		dq := delta[q]
		if dq == 0 {
			continue
		}
		row := Bj[(k0+q)*cs : (k0+q+1)*cs]
		for v, b := range row {
			dsb[v] += dq * float64(b)
		}
	}
	sbRow := ts.SB[g.Row*stride+c0 : g.Row*stride+c0+cs]
	for v, d := range dsb {
		sbRow[v] += T(d)
	}
	if !skipE {
		ts.rankOneE(i, j, a, dsb, sc)
	}
	if pend != nil {
		ts.recordGrad(i, j, a, dsb, pend, slot, sc)
	}
	return changed, dq
}

// firstGroupY computes, for the first group of every tile, y = E_tileᵀ·a
// with a the column of A_i at the group's row (updateGroup's y before the
// √h scaling), in one pass over E row by row: E is read streaming instead of
// tile by tile. Tile t's vector is at [t·maxB, t·maxB + its width). The sums
// run over the tile's rows in order, as updateGroup's would.
func (ts *tileSet[T]) firstGroupY(groups []Group, order, start []int, maxB int) []float64 {
	nc := len(ts.lb.sizes)
	yAll := ts.yBuffer(maxB)
	kernel.For(len(ts.la.sizes), ts.threads, func(i int) {
		r0, rs := ts.la.starts[i], ts.la.sizes[i]
		Ai := ts.A[i]
		clear(yAll[i*nc*maxB : (i+1)*nc*maxB])
		for u := 0; u < rs; u++ {
			base := (r0 + u) * ts.dIn
			for j := 0; j < nc; j++ {
				t := i*nc + j
				if start[t] == start[t+1] {
					continue
				}
				au := float64(Ai[u*rs+groups[order[start[t]]].Row-r0])
				if au == 0 {
					continue
				}
				c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
				y := yAll[t*maxB : t*maxB+cs]
				for v, ev := range ts.E[base+c0 : base+c0+cs][:len(y)] {
					y[v] += float64(ev) * au
				}
			}
		}
	})
	return yAll
}

// yBuffer returns the reused buffer of the first groups' y vectors, maxB
// entries per tile.
func (ts *tileSet[T]) yBuffer(maxB int) []float64 {
	n := len(ts.la.sizes) * len(ts.lb.sizes) * maxB
	if cap(ts.yBuf) < n {
		ts.yBuf = make([]float64, n)
	}
	return ts.yBuf[:n]
}

// firstGroupYFromTg is firstGroupY read off the current gradients instead
// of a pass over E: Tg = Aᵀ·G with G = E·diag(c·h), c = 2/denom, so row ρ of
// tile (i, j) of Tg is c·h ⊙ (E_tileᵀ·a) for a = A_i[:, ρ], and y is that
// row divided by c·h (h > 0: Hdiag is sanitized). It differs from the
// direct sum by the rounding of G and of the product in the storage type.
func (ts *tileSet[T]) firstGroupYFromTg(groups []Group, order, start []int, maxB int) []float64 {
	nc := len(ts.lb.sizes)
	yAll := ts.yBuffer(maxB)
	c := 2 / ts.denom
	for t := 0; t+1 < len(start); t++ {
		if start[t] == start[t+1] {
			continue
		}
		c0, cs := ts.lb.starts[t%nc], ts.lb.sizes[t%nc]
		r := groups[order[start[t]]].Row
		y := yAll[t*maxB : t*maxB+cs]
		h := ts.h[c0 : c0+cs]
		for v, g := range ts.Tg[r*ts.dIn+c0 : r*ts.dIn+c0+cs][:len(y)] {
			y[v] = float64(g) / (c * h[v])
		}
	}
	return yAll
}

// rankOneE applies the rank-one change ΔE = a·dsbᵀ to tile (i, j) of E, in
// the storage type.
func (ts *tileSet[T]) rankOneE(i, j int, a, dsb []float64, sc *groupScratch[T]) {
	r0, rs := ts.la.starts[i], ts.la.sizes[i]
	c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
	dsbT := sc.dsbT[:cs]
	for v, x := range dsb {
		dsbT[v] = T(x)
	}
	for u := 0; u < rs; u++ {
		au := T(a[u])
		if au == 0 {
			continue
		}
		off := (r0+u)*ts.dIn + c0
		e := ts.E[off : off+cs]
		for v, d := range dsbT[:len(e)] {
			e[v] += T(au * d)
		}
	}
}

// transposeB fills bT with the transposes of B's blocks, for recordGrad's
// B_j·dh.
func (ts *tileSet[T]) transposeB() {
	if ts.bT == nil {
		ts.bT = newBlocks[T](ts.lb)
	}
	kernel.For(len(ts.lb.sizes), ts.threads, func(j int) {
		cs, bj, bt := ts.lb.sizes[j], ts.B[j], ts.bT[j]
		for u := 0; u < cs; u++ {
			for v, x := range bj[u*cs : (u+1)*cs] {
				bt[v*cs+u] = x
			}
		}
	})
}

// pendingGrad holds, per group, the rank-one change its update makes to the
// gradients (see recordGrad), until applyPendingGrad applies them.
type pendingGrad[T float] struct {
	maxB            int
	used            []bool
	a, ata, dh, bdh []T // slot k at [k·maxB, (k+1)·maxB)
}

// pendingFor returns the tile set's pending-gradient buffers sized for n
// groups, reusing them across steps.
func (ts *tileSet[T]) pendingFor(n, maxB int) *pendingGrad[T] {
	p := ts.pending
	if p == nil || p.maxB != maxB || len(p.used) < n {
		p = &pendingGrad[T]{maxB: maxB, used: make([]bool, n),
			a: make([]T, n*maxB), ata: make([]T, n*maxB), dh: make([]T, n*maxB), bdh: make([]T, n*maxB)}
		ts.pending = p
	}
	clear(p.used[:n])
	return p
}

// recordGrad records in slot the change of the gradients caused by the
// rank-one change a·dsbᵀ of tile (i, j) of E:
//
//	ΔG = a·dhᵀ,  ΔTg = (A_iᵀa)·dhᵀ,  ΔGS = (A_iᵀa)·(B_j·dh)ᵀ,  dh = c·(dsb⊙h)
//
// with c = 2/denom: O(b²) work instead of two tile products. The vectors are
// formed in float64 and rounded once to the storage type.
func (ts *tileSet[T]) recordGrad(i, j int, a, dsb []float64, p *pendingGrad[T], slot int, sc *groupScratch[T]) {
	rs := ts.la.sizes[i]
	c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
	Ai := ts.A[i]
	o := slot * p.maxB
	aT, ataT, dhT, bdhT := p.a[o:o+rs], p.ata[o:o+rs], p.dh[o:o+cs], p.bdh[o:o+cs]
	c := 2 / ts.denom
	h := ts.h[c0 : c0+cs]
	dh := sc.dh[:cs]
	for v, d := range dsb {
		dh[v] = c * d * h[v]
		dhT[v] = T(dh[v])
	}
	// A_iᵀ·a, row by row of A_i: every sum still runs over u in order from
	// 0, as a dot product per column would, but reads A_i contiguously and
	// keeps rs independent sums instead of one chain of dependent additions.
	ata := clear0(sc.ata[:rs])
	kernel.AccumRows(ata, Ai, rs, a[:rs])
	for w, s := range ata {
		ataT[w] = T(s)
		aT[w] = T(a[w])
	}
	// B_j·dh as Σ_v dh_v·(row v of B_jᵀ) over v in order: every entry summed
	// in column order, as a dot product per row of B_j would, but reading
	// B_jᵀ contiguously.
	bdh := clear0(sc.bdh[:cs])
	kernel.AccumRows(bdh, ts.bT[j], cs, dh)
	for w, x := range bdh {
		bdhT[w] = T(x)
	}
	p.used[slot] = true
}

// applyPendingGrad adds the recorded rank-one changes to G, Tg and GS, row by
// row in parallel over row blocks; within a row, tiles in column order and a
// tile's groups in their order, so the result does not depend on threads.
func (ts *tileSet[T]) applyPendingGrad(p *pendingGrad[T], order, start []int) {
	ts.wSelValid = false // GS changes
	nc := len(ts.lb.sizes)
	kernel.For(len(ts.la.sizes), ts.threads, func(i int) {
		r0, rs := ts.la.starts[i], ts.la.sizes[i]
		for u := 0; u < rs; u++ {
			base := (r0 + u) * ts.dIn
			for j := 0; j < nc; j++ {
				t := i*nc + j
				c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
				for _, slot := range order[start[t]:start[t+1]] {
					if !p.used[slot] {
						continue
					}
					o := slot * p.maxB
					au, tu := p.a[o+u], p.ata[o+u]
					dh, bdh := p.dh[o:o+cs], p.bdh[o:o+cs]
					g := ts.G[base+c0 : base+c0+cs][:len(dh)]
					tg := ts.Tg[base+c0 : base+c0+cs][:len(dh)]
					gs := ts.GS[base+c0 : base+c0+cs][:len(dh)]
					kernel.Axpy3(g, tg, gs, dh, bdh, au, tu)
				}
			}
		}
	})
}

// groupScratch holds the work vectors of updateGroup, allocated once per tile
// task so the sparse-core step does not allocate per group: the group's
// algebra in float64, and the rank-one update's vectors in the storage type.
type groupScratch[T float] struct {
	a, bt, y, gram, old, f, x, sub, rhs, bestX, nw, delta, dsb []float64
	dh, ata, bdh                                               []float64 // recordGrad's
	dsbT                                                       []T
	inP                                                        []bool
}

func newGroupScratch[T float](p Pattern, maxB int) *groupScratch[T] {
	M, N := p.M, p.N
	return &groupScratch[T]{
		a: make([]float64, maxB), bt: make([]float64, M*maxB), y: make([]float64, maxB),
		gram: make([]float64, M*M), old: make([]float64, M), f: make([]float64, M),
		x: make([]float64, N), sub: make([]float64, N*N), rhs: make([]float64, N),
		bestX: make([]float64, 0, N), nw: make([]float64, M), delta: make([]float64, M),
		dsb: make([]float64, maxB), dsbT: make([]T, maxB), inP: make([]bool, M),
		dh: make([]float64, maxB), ata: make([]float64, maxB), bdh: make([]float64, maxB),
	}
}

// clear0 zeroes x and returns it.
func clear0(x []float64) []float64 {
	clear(x)
	return x
}

// bestSupport is the group subproblem's support search, shared by the
// sparse-core step (updateGroup) and the theory variants' sweep
// (sweepTile): for every support P, in the order given, x_P = (G_P +
// gramRidge·I)⁻¹·f_P by Cholesky (solveSPD) and its cost −f_Pᵀ·x_P; the
// first support of least cost wins. It returns that support with its x in
// bestX (len N), or nil when no support's system is positive definite.
// gram is the M × M Gram matrix B̃B̃ᵀ; sub, rhs and x are scratch of N×N, N
// and N entries.
func bestSupport(f, gram []float64, supports [][]int, sub, rhs, x, bestX []float64) []int {
	M, N := len(f), len(x)
	bestCost := math.Inf(1)
	var bestP []int
	for _, P := range supports {
		for q, pq := range P {
			rhs[q] = f[pq]
			for r, pr := range P {
				sub[q*N+r] = gram[pq*M+pr]
			}
			sub[q*N+q] += gramRidge
		}
		if !solveSPD(sub, rhs, x, N) {
			continue
		}
		cost := 0.0
		for q := range P {
			cost -= float64(rhs[q] * x[q])
		}
		if cost < bestCost {
			bestCost, bestP = cost, P
			copy(bestX, x)
		}
	}
	return bestP
}

// quadValue is 2fᵀs + aa·sᵀGs.
func quadValue(f, gram []float64, aa float64, s []float64) float64 {
	M := len(f)
	v := 0.0
	for q := 0; q < M; q++ {
		v += float64(2 * f[q] * s[q])
		gs := 0.0
		for r := 0; r < M; r++ {
			gs += float64(gram[q*M+r] * s[r])
		}
		v += float64(aa * s[q] * gs)
	}
	return v
}

// solveSPD solves the n×n symmetric positive definite system A·x = b by an
// in-place Cholesky factorization of a copy (n ≤ 8 here, so hand-written: a
// library call would allocate per group per tile per iteration). It reports
// false when A is not positive definite.
func solveSPD(A, b, x []float64, n int) bool {
	var lbuf [64]float64
	L := lbuf[:n*n]
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			s := A[i*n+j]
			for k := 0; k < j; k++ {
				s -= L[i*n+k] * L[j*n+k]
			}
			if i == j {
				if !(s > 0) {
					return false
				}
				L[i*n+i] = math.Sqrt(s)
			} else {
				L[i*n+j] = s / L[j*n+j]
			}
		}
	}
	for i := 0; i < n; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= L[i*n+k] * x[k]
		}
		x[i] = s / L[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := x[i]
		for k := i + 1; k < n; k++ {
			s -= L[k*n+i] * x[k]
		}
		x[i] = s / L[i*n+i]
	}
	return true
}
