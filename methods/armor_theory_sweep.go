package methods

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// The sparse-core step of the theory variants (gd, exact), organized for
// many groups per tile: a coordinate sweep in the core's own coordinates.
//
// With A and B fixed the loss is a quadratic in the core S whose gradient
// is GS = ∂L/∂S = c·Aᵀ(E·D)Bᵀ (c = 2/denom, D = diag(h)) and whose Hessian
// acts tile by tile as Δ ↦ c·K_i·Δ·L_j with
//
//	K_i = A_iᵀA_i (b × b),   L_j = B_j·D_j·B_jᵀ (b × b),
//
// so changing tile (i, j) of S by Δ changes the loss by exactly
//
//	⟨GS_ij, Δ⟩ + ½·c·⟨Δ, K_i·Δ·L_j⟩.
//
// For a group (row ρ of the tile, columns γ) with values s_old this is the
// subproblem of ARMORState.SparseCoreStep — ‖a‖² = K_i[ρ,ρ] (a = column ρ
// of A_i), Gram matrix B̃B̃ᵀ = L_j[γ,γ] and f = B̃·Rᵀ·a = ½·denom·GS[ρ,γ] −
// ‖a‖²·L_j[γ,γ]·s_old — solved the same way (every support, the same ridge
// and ‖a‖² floor, the same monotone guard). What differs is the bookkeeping:
// instead of rank-one updates of E, S·B (and G, T, GS) after every group —
// about 3·b² flops per group — only GS is kept exact, and lazily:
//
//   - a change δ of group (ρ, γ) changes GS_ij by c·K_i[:,ρ]·(L_j[γ,:]ᵀδ)ᵀ;
//     row ρ of GS (the only row the following groups of the same row read)
//     is updated at once, M·b flops;
//   - the other rows only need it before a group of another row is solved,
//     so the changes of one row are summed (w = Σ L_j[γ,:]ᵀδ) and applied to
//     all rows of the tile in one rank-one update when the sweep moves to
//     another row: b² flops per row instead of per group.
//
// Within a tile the groups are therefore taken in row order (stable: the
// given order within a row). Each group update is still the exact minimizer
// over that group given the current values of all others, so the step is a
// valid block coordinate descent; E, S·B and the gradients are recomputed
// by the caller's Refresh once per sweep (two panel products).

// The group subproblem's guards are the sparse-core step's (gramRidge,
// aNormEps in armor_sparsecore.go): both solve the same subproblem.

// sweepOperators returns K_i = A_iᵀA_i for every row block and L_j =
// B_j·D_j·B_jᵀ for every column block (row-major, b_i × b_i and b_j × b_j).
func (st *ARMORState) sweepOperators() (K, L [][]float64) {
	K = make([][]float64, len(st.A.Sizes))
	kernel.For(len(st.A.Sizes), st.threads, func(i int) {
		s := st.A.Sizes[i]
		K[i] = make([]float64, s*s)
		a := blockView(st.A, i)
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, a, a, 0, blas64.General{Rows: s, Cols: s, Stride: s, Data: K[i]})
	})
	L = make([][]float64, len(st.B.Sizes))
	kernel.For(len(st.B.Sizes), st.threads, func(j int) {
		s, c0 := st.B.Sizes[j], st.B.Starts[j]
		bd := make([]float64, s*s) // B_j·D_j^½
		for u := 0; u < s; u++ {
			for v := 0; v < s; v++ {
				bd[u*s+v] = st.B.Blocks[j][u*s+v] * st.sqrtH[c0+v]
			}
		}
		L[j] = make([]float64, s*s)
		g := blas64.General{Rows: s, Cols: s, Stride: s, Data: bd}
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, g, g, 0, blas64.General{Rows: s, Cols: s, Stride: s, Data: L[j]})
	})
	return K, L
}

// SweepCore updates the support and values of the given groups, each to the
// exact minimizer over its C(M, N) supports and values with everything else
// fixed (the subproblem of SparseCoreStep, with monotone guard), tile by tile
// in parallel and, within a tile, row by row (groups of one row in the order
// given; nil groups means every group, row by row). It reads ∂L/∂S from GS
// (recomputed first unless current) and updates V, the mask, S and GS (the
// latter only as far as the sweep needs it). E and S·B are not updated:
// call Refresh afterwards. It returns how many groups changed support.
func (st *ARMORState) SweepCore(groups []Group) (changed int, err error) {
	p := st.Pattern
	nr, nc := st.TileCount()
	if groups == nil {
		if !st.ts.gradValid {
			st.refreshGrad()
		}
		return st.sweepAll(), nil
	}
	count := make([]int, nr*nc+1)
	tileOf := make([]int, len(groups))
	for k, g := range groups {
		if g.Row < 0 || g.Row >= st.dOut || g.Col < 0 || g.Col+p.M > st.dIn || g.Col%p.M != 0 {
			return 0, fmt.Errorf("group (row %d, col %d) is outside the %d×%d core or not aligned to M=%d", g.Row, g.Col, st.dOut, st.dIn, p.M)
		}
		i, j := st.TileOf(g)
		tileOf[k] = i*nc + j
		count[tileOf[k]+1]++
	}
	if !st.ts.gradValid {
		st.refreshGrad()
	}
	// Bucket the groups by tile (a counting sort keeps the given order).
	for t := range nr * nc {
		count[t+1] += count[t]
	}
	byTile := make([]Group, len(groups))
	next := append([]int(nil), count[:nr*nc]...)
	for k, g := range groups {
		byTile[next[tileOf[k]]] = g
		next[tileOf[k]]++
	}
	K, L := st.sweepOperators()
	supports := p.Supports()
	changes := make([]int, nr*nc)
	maxB := max(slices.Max(st.A.Sizes), slices.Max(st.B.Sizes))
	kernel.For(nr*nc, st.threads, func(t int) {
		gs := byTile[count[t]:count[t+1]]
		if len(gs) == 0 {
			return
		}
		slices.SortStableFunc(gs, func(x, y Group) int { return cmp.Compare(x.Row, y.Row) })
		i, j := t/nc, t%nc
		sc := getSweepScratch(p, maxB)
		changes[t] = st.sweepTile(i, j, gs, K[i], L[j], supports, sc)
		sweepScratchPool.Put(sc)
	})
	for _, c := range changes {
		changed += c
	}
	return changed, nil
}

// sweepAll sweeps every group of the core, each tile row by row.
func (st *ARMORState) sweepAll() (changed int) {
	p := st.Pattern
	nr, nc := st.TileCount()
	K, L := st.sweepOperators()
	supports := p.Supports()
	changes := make([]int, nr*nc)
	maxB := max(slices.Max(st.A.Sizes), slices.Max(st.B.Sizes))
	kernel.For(nr*nc, st.threads, func(t int) {
		i, j := t/nc, t%nc
		sc := getSweepScratch(p, maxB)
		defer sweepScratchPool.Put(sc)
		gs := sc.all[:0]
		for r := st.A.Starts[i]; r < st.A.Starts[i]+st.A.Sizes[i]; r++ {
			for c := st.B.Starts[j]; c < st.B.Starts[j]+st.B.Sizes[j]; c += p.M {
				gs = append(gs, Group{Row: r, Col: c})
			}
		}
		changes[t] = st.sweepTile(i, j, gs, K[i], L[j], supports, sc)
	})
	for _, c := range changes {
		changed += c
	}
	return changed
}

// sweepScratch holds the work vectors of one tile's sweep.
type sweepScratch struct {
	p                                           Pattern
	maxB                                        int
	w, dl, gram, f, old, nw, x, bestX, sub, rhs []float64
	coef                                        []float64 // c·K_i[ρ, :ρ] of a row pull
	oldIdx                                      []int
	all                                         []Group
}

// sweepScratchPool recycles the scratch of finished tiles (the sweep visits
// hundreds of tiles per iteration; allocating for each would keep the
// garbage collector busy).
var sweepScratchPool sync.Pool

// getSweepScratch returns scratch for pattern p and blocks of at most maxB,
// with W zeroed.
func getSweepScratch(p Pattern, maxB int) *sweepScratch {
	if sc, ok := sweepScratchPool.Get().(*sweepScratch); ok && sc.p == p && sc.maxB == maxB {
		clear(sc.w)
		return sc
	}
	return newSweepScratch(p, maxB)
}

func newSweepScratch(p Pattern, maxB int) *sweepScratch {
	M, N := p.M, p.N
	return &sweepScratch{p: p, maxB: maxB,
		w: make([]float64, maxB*maxB), dl: make([]float64, maxB), oldIdx: make([]int, 0, p.M),
		gram: make([]float64, M*M), f: make([]float64, M), old: make([]float64, M), nw: make([]float64, M),
		x: make([]float64, N), bestX: make([]float64, N), sub: make([]float64, N*N), rhs: make([]float64, N),
		all: make([]Group, 0, maxB*maxB/M), coef: make([]float64, maxB),
	}
}

// sweepTile solves the groups gs of tile (i, j), sorted by row, one after
// another (see SweepCore). Ki and Lj are the tile's operators.
func (st *ARMORState) sweepTile(i, j int, gs []Group, Ki, Lj []float64, supports [][]int, sc *sweepScratch) (changed int) {
	p := st.Pattern
	M, N := p.M, p.N
	r0, rs := st.A.Starts[i], st.A.Sizes[i]
	c0, cs := st.B.Starts[j], st.B.Sizes[j]
	c := 2 / st.denom
	half := st.denom / 2
	gsRaw := st.GS.RawMatrix()
	sRaw, vRaw := st.S.RawMatrix().Data, st.V.RawMatrix().Data
	keepAll := st.Mask.Keep
	gsRow := func(u int) []float64 {
		off := (r0+u)*gsRaw.Stride + c0
		return gsRaw.Data[off : off+cs]
	}
	// W holds, per row of the tile swept so far, the sum of L_j[γ,:]ᵀ·δ
	// over its groups (zero for rows not swept: the scratch comes zeroed).
	W := sc.w[:rs*cs]
	cur := -1
	gram, f, old, nw := sc.gram, sc.f, sc.old, sc.nw
	x, bestX, sub, rhs := sc.x, sc.bestX, sc.sub, sc.rhs
	for _, g := range gs {
		rho, k0 := g.Row-r0, g.Col-c0
		grow := gsRow(rho)
		if rho != cur {
			// A new row: bring its gradient up to date with the changes of
			// the rows swept before it, GS[ρ,:] += c·Σ_{u<ρ} K_i[ρ,u]·W[u,:]
			// (rows come in increasing order, and rows not swept have
			// W[u,:] = 0, so each row pulls each earlier row once).
			clear(W[rho*cs : (rho+1)*cs])
			if rho > 0 && cur >= 0 {
				// Row by row of W (AVX2 for whole groups of four columns):
				// no BLAS call, whose cgo crossing cost more than the
				// arithmetic at these sizes.
				coef := sc.coef[:rho]
				for u := range coef {
					coef[u] = c * Ki[rho*rs+u]
				}
				kernel.AccumRows(grow[:cs], W[:rho*cs], cs, coef)
			}
			cur = rho
		}
		aa := Ki[rho*rs+rho]
		off := g.Row*st.dIn + g.Col
		keep := keepAll[off : off+M]
		var bestP []int
		if M == 4 && N == 2 {
			// Element by element: copy of 4 entries is a runtime call.
			var lg [4][4]float64
			var fg, o [4]float64
			var kp [4]bool
			sg, gg := sRaw[off:off+4], grow[k0:k0+4]
			for q := 0; q < 4; q++ {
				lr := Lj[(k0+q)*cs+k0:][:4]
				lg[q] = [4]float64{lr[0], lr[1], lr[2], lr[3]}
				old[q] = sg[q]
				fg[q], o[q], kp[q] = half*gg[q], sg[q], keep[q]
			}
			n, sup, ok := solveGroup24(&lg, &fg, aa, &o, &kp)
			if !ok {
				continue
			}
			nw[0], nw[1], nw[2], nw[3] = n[0], n[1], n[2], n[3]
			bestP = supports[sup]
		} else {
			copy(old, sRaw[off:off+M])
			// Gram matrix L_j[γ,γ] and f = ½·denom·GS[ρ,γ] − ‖a‖²·L_j[γ,γ]·s_old.
			for q := 0; q < M; q++ {
				lrow := Lj[(k0+q)*cs+k0 : (k0+q)*cs+k0+M]
				copy(gram[q*M:(q+1)*M], lrow)
				s := 0.0
				for r, l := range lrow {
					s += l * old[r]
				}
				f[q] = half*grow[k0+q] - aa*s
			}
			// Every support: x = (G_P + ridge)⁻¹·f_P, cost −f_Pᵀx; the first
			// of least cost wins.
			bestP = bestSupport(f, gram, supports, sub, rhs, x, bestX)
			if bestP == nil {
				continue
			}
			clear(nw)
			for q, pq := range bestP {
				nw[pq] = -bestX[q] / (aa + aNormEps)
			}
			// The exact change of the tile loss (times denom) is
			// q(s) − q(s_old) with q(s) = 2fᵀs + ‖a‖²·sᵀGs: keep the old
			// values unless the new ones are strictly better. (Both have
			// at most N non-zeros: on the new support and on the mask.)
			oldIdx := sc.oldIdx[:0]
			for q, k := range keep {
				if k {
					oldIdx = append(oldIdx, q)
				}
			}
			if groupQuad(f, gram, aa, nw, bestP) >= groupQuad(f, gram, aa, old, oldIdx) {
				continue
			}
		}
		moved := false
		for q := 0; q < M; q++ {
			in := slices.Contains(bestP, q)
			moved = moved || keep[q] != in
			keep[q] = in
			if in {
				vRaw[off+q] = nw[q]
			}
			sRaw[off+q] = nw[q]
			old[q] = nw[q] - old[q] // δ
		}
		if moved {
			changed++
		}
		// dl = L_j[γ,:]ᵀ·δ (L_j is symmetric: rows γ); row ρ of GS at once
		// (c·‖a‖²·dl), the later rows pull it from W.
		kr := c * aa
		w := W[rho*cs : (rho+1)*cs]
		if M == 4 {
			d0, d1, d2, d3 := old[0], old[1], old[2], old[3]
			kernel.Rank4(grow[:cs], w, Lj[k0*cs:(k0+4)*cs], cs, d0, d1, d2, d3, kr)
			continue
		}
		dl := sc.dl[:cs]
		clear(dl)
		for q := 0; q < M; q++ {
			d := old[q]
			if d == 0 {
				continue
			}
			for v, l := range Lj[(k0+q)*cs : (k0+q+1)*cs] {
				dl[v] += float64(d * l)
			}
		}
		for v, d := range dl {
			grow[v] += float64(kr * d)
			w[v] += d
		}
	}
	// Rows after the last swept one are not read any more (the caller
	// recomputes GS), so the changes are not pushed to them.
	return changed
}

// solveGroup24 is the group subproblem for the 2:4 pattern with fixed-size
// arrays (the hot path of the sweep; the same computation as the generic
// code): lg = L_j[γ,γ], fg = ½·denom·GS[ρ,γ], aa = ‖a‖², old the group's
// values and kp its mask. It returns the new values, the index of the
// winning support in Pattern{2, 4}.Supports() order ((0,1), (0,2), (0,3),
// (1,2), (1,3), (2,3)), and false when no support is solvable or the best
// one would not strictly lower the loss.
func solveGroup24(lg *[4][4]float64, fg *[4]float64, aa float64, old *[4]float64, kp *[4]bool) (nw [4]float64, sup int, ok bool) {
	// f = fg − ‖a‖²·G·s_old.
	var f [4]float64
	for q := 0; q < 4; q++ {
		f[q] = fg[q] - aa*(lg[q][0]*old[0]+lg[q][1]*old[1]+lg[q][2]*old[2]+lg[q][3]*old[3])
	}
	// Closed-form 2×2 solves: G_P = [[a, b], [b, d]] (+ ridge) is positive
	// definite iff a > 0 and det > 0 (what Cholesky checks); x = G_P⁻¹·f_P,
	// cost −f_Pᵀx; the first support of least cost wins.
	best, bx0, bx1, b0, b1 := math.Inf(1), 0.0, 0.0, -1, -1
	k := 0
	for p0 := 0; p0 < 3; p0++ {
		for p1 := p0 + 1; p1 < 4; p1, k = p1+1, k+1 {
			a, b, d := lg[p0][p0]+gramRidge, lg[p0][p1], lg[p1][p1]+gramRidge
			det := float64(a*d) - float64(b*b)
			if !(a > 0) || !(det > 0) {
				continue
			}
			f0, f1 := f[p0], f[p1]
			x0, x1 := (float64(d*f0)-float64(b*f1))/det, (float64(a*f1)-float64(b*f0))/det
			if cost := -(float64(f0*x0) + float64(f1*x1)); cost < best {
				best, bx0, bx1, b0, b1, sup = cost, x0, x1, p0, p1, k
			}
		}
	}
	if b0 < 0 {
		return nw, 0, false
	}
	n0, n1 := -bx0/(aa+aNormEps), -bx1/(aa+aNormEps)
	nw[b0], nw[b1] = n0, n1
	// q(s) = 2fᵀs + ‖a‖²·sᵀGs on the new support and on the current mask.
	qNew := 2*(float64(f[b0]*n0)+float64(f[b1]*n1)) + float64(aa*(float64(lg[b0][b0]*n0*n0)+float64(2*lg[b0][b1]*n0*n1)+float64(lg[b1][b1]*n1*n1)))
	qOld := 0.0
	for q := 0; q < 4; q++ {
		if !kp[q] {
			continue
		}
		gs := 0.0
		for r := 0; r < 4; r++ {
			if kp[r] {
				gs += float64(lg[q][r] * old[r])
			}
		}
		qOld += float64(2*f[q]*old[q]) + float64(aa*old[q]*gs)
	}
	return nw, sup, qNew < qOld
}

// groupQuad is 2fᵀs + aa·sᵀGs for an M × M Gram matrix G and an s whose
// non-zeros are among the indices idx.
func groupQuad(f, gram []float64, aa float64, s []float64, idx []int) float64 {
	M := len(f)
	v := 0.0
	for _, q := range idx {
		gs := 0.0
		for _, r := range idx {
			gs += float64(gram[q*M+r] * s[r])
		}
		v += float64(2*f[q]*s[q]) + float64(aa*s[q]*gs)
	}
	return v
}
