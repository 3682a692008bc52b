package methods

import (
	"fmt"
	"math"
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
	return st.A.blockOf(g.Row), st.B.blockOf(g.Col)
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
	p := st.Pattern
	_, nc := st.TileCount()
	byTile := map[int][]int{}
	var tiles []int
	for k, g := range groups {
		if g.Row < 0 || g.Row >= st.dOut || g.Col < 0 || g.Col+p.M > st.dIn || g.Col%p.M != 0 {
			return 0, fmt.Errorf("group (row %d, col %d) is outside the %d×%d core or not aligned to M=%d", g.Row, g.Col, st.dOut, st.dIn, p.M)
		}
		i, j := st.TileOf(g)
		t := i*nc + j
		if _, ok := byTile[t]; !ok {
			tiles = append(tiles, t)
		}
		byTile[t] = append(byTile[t], k)
	}
	supports := p.Supports()
	flags := make([]bool, len(groups))
	maxB := 0
	for _, s := range st.A.Sizes {
		maxB = max(maxB, s)
	}
	for _, s := range st.B.Sizes {
		maxB = max(maxB, s)
	}
	parallelFor(len(tiles), st.threads, func(k int) {
		sc := newGroupScratch(p, maxB)
		for _, idx := range byTile[tiles[k]] {
			flags[idx] = st.updateGroup(groups[idx], supports, monotone, sc)
		}
	})
	for _, f := range flags {
		if f {
			changed++
		}
	}
	return changed, nil
}

// updateGroup solves one group (see SparseCoreStep) and updates V, the mask,
// S, S·B and E. It touches only the group's tile. It reports whether the
// support changed.
func (st *ARMORState) updateGroup(g Group, supports [][]int, monotone bool, sc *groupScratch) bool {
	p := st.Pattern
	M := p.M
	i, j := st.TileOf(g)
	r0, rs := st.A.Starts[i], st.A.Sizes[i]
	c0, cs := st.B.Starts[j], st.B.Sizes[j]
	rho, k0 := g.Row-r0, g.Col-c0
	Ai, Bj := st.A.Blocks[i], st.B.Blocks[j]

	a := sc.a[:rs]
	aa := 0.0
	for u := 0; u < rs; u++ {
		a[u] = Ai[u*rs+rho]
		aa += a[u] * a[u]
	}
	// B̃: M × cs, B_j's rows k0..k0+M−1 with columns scaled by sqrt(h).
	bt := sc.bt[:M*cs]
	for q := 0; q < M; q++ {
		row := Bj[(k0+q)*cs : (k0+q+1)*cs]
		for v, b := range row {
			bt[q*cs+v] = b * st.sqrtH[c0+v]
		}
	}
	// y = E_tile(weighted)ᵀ·a.
	y := clear0(sc.y[:cs])
	e := st.E.RawMatrix()
	for u := 0; u < rs; u++ {
		if a[u] == 0 {
			continue
		}
		row := e.Data[(r0+u)*e.Stride+c0 : (r0+u)*e.Stride+c0+cs]
		for v, ev := range row {
			y[v] += ev * a[u]
		}
	}
	for v := range y {
		y[v] *= st.sqrtH[c0+v]
	}
	// Gram matrix B̃·B̃ᵀ (M × M) and the group's current values.
	gram := sc.gram[:M*M]
	for q := 0; q < M; q++ {
		for r := q; r < M; r++ {
			s := 0.0
			for v := 0; v < cs; v++ {
				s += bt[q*cs+v] * bt[r*cs+v]
			}
			gram[q*M+r], gram[r*M+q] = s, s
		}
	}
	sRow := st.S.RawMatrix().Data[g.Row*st.dIn+g.Col : g.Row*st.dIn+g.Col+M]
	old := append(sc.old[:0], sRow...)
	// f = B̃·Rᵀ·a = B̃·y − ‖a‖²·(B̃B̃ᵀ)·s_old.
	f := sc.f[:M]
	for q := 0; q < M; q++ {
		s := 0.0
		for v := 0; v < cs; v++ {
			s += bt[q*cs+v] * y[v]
		}
		gs := 0.0
		for r := 0; r < M; r++ {
			gs += gram[q*M+r] * old[r]
		}
		f[q] = s - aa*gs
	}
	bestCost := math.Inf(1)
	var bestP []int
	bestX := sc.bestX[:0]
	x := sc.x[:p.N]
	sub := sc.sub[:p.N*p.N]
	rhs := sc.rhs[:p.N]
	for _, P := range supports {
		for q, pq := range P {
			rhs[q] = f[pq]
			for r, pr := range P {
				sub[q*p.N+r] = gram[pq*M+pr]
			}
			sub[q*p.N+q] += gramRidge
		}
		if !solveSPD(sub, rhs, x, p.N) {
			continue
		}
		cost := 0.0
		for q := range P {
			cost -= rhs[q] * x[q]
		}
		if cost < bestCost {
			bestCost, bestP, bestX = cost, P, append(bestX[:0], x...)
		}
	}
	if bestP == nil {
		return false
	}
	nw := clear0(sc.nw[:M])
	for q, pq := range bestP {
		nw[pq] = -bestX[q] / (aa + aNormEps)
	}
	if monotone {
		// Exact change of the tile loss: q(s) = 2fᵀs + ‖a‖²·sᵀGs.
		if quadValue(f, gram, aa, nw) >= quadValue(f, gram, aa, old) {
			return false
		}
	}
	changed := false
	keep := st.Mask.Keep[g.Row*st.dIn+g.Col : g.Row*st.dIn+g.Col+M]
	inP := sc.inP[:M]
	clear(inP)
	for _, pq := range bestP {
		inP[pq] = true
	}
	vRow := st.V.RawMatrix().Data[g.Row*st.dIn+g.Col : g.Row*st.dIn+g.Col+M]
	delta := sc.delta[:M]
	for q := 0; q < M; q++ {
		if keep[q] != inP[q] {
			changed = true
		}
		keep[q] = inP[q]
		if inP[q] {
			vRow[q] = nw[q]
		}
		delta[q] = nw[q] - old[q]
		sRow[q] = nw[q]
	}
	// Rank-one updates: SB row ρ += Δsᵀ·B_j[k0:k0+M, :], E_tile += a·(that).
	dsb := clear0(sc.dsb[:cs])
	for q := 0; q < M; q++ {
		if delta[q] == 0 {
			continue
		}
		row := Bj[(k0+q)*cs : (k0+q+1)*cs]
		for v, b := range row {
			dsb[v] += delta[q] * b
		}
	}
	sb := st.SB.RawMatrix()
	sbRow := sb.Data[g.Row*sb.Stride+c0 : g.Row*sb.Stride+c0+cs]
	for v, d := range dsb {
		sbRow[v] += d
	}
	for u := 0; u < rs; u++ {
		if a[u] == 0 {
			continue
		}
		row := e.Data[(r0+u)*e.Stride+c0 : (r0+u)*e.Stride+c0+cs]
		for v, d := range dsb {
			row[v] += a[u] * d
		}
	}
	if st.gradValid {
		st.updateGradTile(i, j, a, dsb, sc)
	}
	return changed
}

// updateGradTile keeps G, T = AᵀG and GS = T·Bᵀ exact after the rank-one
// change a·dsbᵀ of tile (i, j) of E:
//
//	ΔG = c·a·(dsb⊙h)ᵀ,  ΔT = c·(A_iᵀa)·(dsb⊙h)ᵀ,  ΔGS = c·(A_iᵀa)·(B_j·(dsb⊙h))ᵀ
//
// with c = 2/denom: O(b²) work instead of two tile products.
func (st *ARMORState) updateGradTile(i, j int, a, dsb []float64, sc *groupScratch) {
	r0, rs := st.A.Starts[i], st.A.Sizes[i]
	c0, cs := st.B.Starts[j], st.B.Sizes[j]
	Ai, Bj := st.A.Blocks[i], st.B.Blocks[j]
	c := 2 / st.denom
	dh := sc.dh[:cs]
	for v, d := range dsb {
		dh[v] = c * d * st.h[c0+v]
	}
	ata := clear0(sc.ata[:rs]) // A_iᵀ·a
	for u := 0; u < rs; u++ {
		if a[u] == 0 {
			continue
		}
		row := Ai[u*rs : (u+1)*rs]
		for w, x := range row {
			ata[w] += x * a[u]
		}
	}
	bdh := sc.bdh[:cs] // B_j·(dsb⊙h)·c
	for u := 0; u < cs; u++ {
		s := 0.0
		for v, x := range Bj[u*cs : (u+1)*cs] {
			s += x * dh[v]
		}
		bdh[u] = s
	}
	g, t, gs := st.G.RawMatrix(), st.T.RawMatrix(), st.GS.RawMatrix()
	for u := 0; u < rs; u++ {
		off := (r0+u)*g.Stride + c0
		if a[u] != 0 {
			row := g.Data[off : off+cs]
			for v, d := range dh {
				row[v] += a[u] * d
			}
		}
		if ata[u] != 0 {
			trow := t.Data[off : off+cs]
			srow := gs.Data[off : off+cs]
			for v := 0; v < cs; v++ {
				trow[v] += ata[u] * dh[v]
				srow[v] += ata[u] * bdh[v]
			}
		}
	}
}

// groupScratch holds the work vectors of updateGroup, allocated once per tile
// task so the sparse-core step does not allocate per group.
type groupScratch struct {
	a, bt, y, gram, old, f, x, sub, rhs, bestX, nw, delta, dsb, dh, ata, bdh []float64
	inP                                                                      []bool
}

func newGroupScratch(p Pattern, maxB int) *groupScratch {
	M, N := p.M, p.N
	return &groupScratch{
		a: make([]float64, maxB), bt: make([]float64, M*maxB), y: make([]float64, maxB),
		gram: make([]float64, M*M), old: make([]float64, 0, M), f: make([]float64, M),
		x: make([]float64, N), sub: make([]float64, N*N), rhs: make([]float64, N),
		bestX: make([]float64, 0, N), nw: make([]float64, M), delta: make([]float64, M),
		dsb: make([]float64, maxB), dh: make([]float64, maxB), ata: make([]float64, maxB),
		bdh: make([]float64, maxB), inP: make([]bool, M),
	}
}

// clear0 zeroes x and returns it.
func clear0(x []float64) []float64 {
	clear(x)
	return x
}

// quadValue is 2fᵀs + aa·sᵀGs.
func quadValue(f, gram []float64, aa float64, s []float64) float64 {
	M := len(f)
	v := 0.0
	for q := 0; q < M; q++ {
		v += 2 * f[q] * s[q]
		gs := 0.0
		for r := 0; r < M; r++ {
			gs += gram[q*M+r] * s[r]
		}
		v += aa * s[q] * gs
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
