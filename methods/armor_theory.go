package methods

import (
	"fmt"
	"math"

	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// The theory variants of ARMOR's continuous step (Theorem 3.1). Both update
// the blocks one after another — A, then the core values W' (mask fixed),
// then B — and each block update is one the theorem allows:
//
//   - gd: a gradient step of length 1/β, β an upper bound on that block's
//     smoothness constant. The loss is a convex quadratic in each block, so
//     β is twice the largest eigenvalue of its Hessian over denom:
//     A_i: 2·λmax(P_i P_iᵀ)/denom with P_i = [S_ij B_j D_j^½]_j;
//     B_j, column v (columns are independent): 2·h_v·λmax(C_jᵀC_j)/denom with
//     C_j = [A_i S_ij]_i;
//     tile (i, j) of W' (tiles are independent): 2·λmax(A_iᵀA_i)·
//     λmax(B_j D_j B_jᵀ)/denom, which bounds the masked Hessian by Cauchy
//     interlacing.
//   - exact: each block's least-squares problem solved exactly: A_i and B_j
//     in closed form from their normal equations; the masked core values of
//     each tile by Jacobi-preconditioned conjugate gradients to a relative
//     gradient norm of 1e-6 (cgTol; at most as many iterations as unknowns).
//
// Every block update is followed by an exact recomputation of the loss and
// is undone when it did not lower it (which only rounding or a singular
// system can cause), so the loss is non-increasing by construction.
//
// Theorem 3.1 only needs every block step not to increase the loss, which
// leaves room for a faster schedule (ARMORConfig; all off by default):
//
//   - Relax = ω ∈ (0, 2): over-relaxation. exact moves A and B to
//     x + ω·(x* − x), gd steps ω/β; both lower a convex quadratic for any
//     such ω, and ω ≈ 1.5–1.8 cuts the zig-zag of alternating minimization.
//   - ValueEvery, CGIters: a rarer or truncated core-value update (CG from
//     the current values lowers the quadratic at every iteration). The
//     sparse-core sweeps re-solve the values of every group they visit, so
//     with all groups swept the separate value update adds little.
//   - Sweeps: several sparse-core sweeps (SweepCore, armor_theory_sweep.go) per
//     continuous step.
//   - Extrapolate: after each iteration, a trial step along the iteration's
//     change of (A, B, values), kept only if it lowers the loss.

// theoryIteration is one iteration of the gd or exact variant: the
// continuous step, then cfg.Sweeps sparse-core sweeps. It returns the loss.
func (r *armorRun) theoryIteration() (float64, error) {
	r.theoryIters++
	r.continuousTheoryStep(r.cfg.Continuous == ContinuousExact)
	for range max(1, r.cfg.Sweeps) {
		if err := r.theorySweep(); err != nil {
			return 0, err
		}
	}
	if r.cfg.Extrapolate {
		r.extrapolate()
	}
	return r.st.Loss(), nil
}

// armorExtrap is the state of the theory variants' extrapolation: the
// previous iterate (A, B, S and mask), the current one while a trial point
// is evaluated, and the step factor λ.
type armorExtrap struct {
	prevA, prevB, curA, curB *BlockDiag
	prevS, curV              *mat.Dense
	prevKeep                 []bool
	lambda                   float64
}

// Bounds and adaptation of the extrapolation factor λ: grown after a
// success, halved after a failure.
const (
	extrapStart, extrapMin, extrapMax = 1.0, 0.125, 8.0
	extrapGrow, extrapShrink          = 1.5, 0.5
)

// extrapolate tries θ + λ·(θ − θ_prev), θ = (A, B, core values) the
// iterate just computed and θ_prev the one before, with the current mask;
// core values whose kept/pruned state changed since θ_prev are not moved.
// The trial point is kept only if its loss is lower (so the loss never
// increases); otherwise θ is restored. Either way the result becomes
// θ_prev of the next call.
func (r *armorRun) extrapolate() {
	st := r.st
	x := r.extrap
	if x == nil {
		x = &armorExtrap{prevA: st.A.Clone(), prevB: st.B.Clone(), curA: st.A.Clone(), curB: st.B.Clone(),
			prevS: mat.DenseCopyOf(st.S), curV: mat.DenseCopyOf(st.V), prevKeep: append([]bool(nil), st.Mask.Keep...), lambda: extrapStart}
		r.extrap = x
		return
	}
	loss := st.Loss()
	x.curA.CopyFrom(st.A)
	x.curB.CopyFrom(st.B)
	x.curV.Copy(st.V)
	step := func(cur, prev []float64) {
		for k := range cur {
			cur[k] += float64(x.lambda * (cur[k] - prev[k]))
		}
	}
	for k := range st.A.Blocks {
		step(st.A.Blocks[k], x.prevA.Blocks[k])
	}
	for k := range st.B.Blocks {
		step(st.B.Blocks[k], x.prevB.Blocks[k])
	}
	v, s, ps, keep := st.V.RawMatrix().Data, st.S.RawMatrix().Data, x.prevS.RawMatrix().Data, st.Mask.Keep
	kernel.For(st.dOut, st.threads, func(i int) {
		for k := i * st.dIn; k < (i+1)*st.dIn; k++ {
			if keep[k] && x.prevKeep[k] {
				v[k] = s[k] + float64(x.lambda*(s[k]-ps[k]))
			}
		}
	})
	st.Refresh()
	if nl := st.Loss(); nl < loss {
		x.lambda = min(x.lambda*extrapGrow, extrapMax)
	} else {
		st.A.CopyFrom(x.curA)
		st.B.CopyFrom(x.curB)
		st.V.Copy(x.curV)
		st.Refresh()
		x.lambda = max(x.lambda*extrapShrink, extrapMin)
	}
	x.prevA.CopyFrom(st.A)
	x.prevB.CopyFrom(st.B)
	x.prevS.Copy(st.S)
	copy(x.prevKeep, st.Mask.Keep)
}

// theorySweep is the theory variants' sparse-core step: ∂L/∂S at the
// current point, the groups by the configured rule, one SweepCore over them,
// and the residual recomputed. Each group update is guarded, but when the
// layer is fitted almost exactly the guard's quadratic is dominated by
// rounding; so the whole step is also checked on the freshly computed
// residual and undone if the loss rose: the loss never increases.
func (r *armorRun) theorySweep() error {
	st := r.st
	before := st.Loss()
	st.refreshGrad()
	var groups []Group // nil: every group
	if r.cfg.GroupsPerTile != 0 {
		groups = r.selectGroups()
	}
	r.saveCore()
	if _, err := st.SweepCore(groups); err != nil {
		return fmt.Errorf("armor sparse-core sweep: %w", err)
	}
	st.Refresh()
	if after := st.Loss(); !(after <= before) {
		r.restoreCore()
		st.Refresh()
	}
	return nil
}

// continuousTheoryStep performs one gd or exact continuous step.
func (r *armorRun) continuousTheoryStep(exact bool) {
	st := r.st
	loss := st.Loss()
	guard := func(update func(), undo func()) {
		update()
		st.Refresh()
		if nl := st.Loss(); !(nl <= loss) {
			undo()
			st.Refresh()
		} else {
			loss = nl
		}
	}
	// A. (S and B do not change, so S·B stays valid and only the residual
	// A·SB − W̄ is recomputed.)
	oldA := st.A.Clone()
	r.updateA(exact)
	st.residualFromSB()
	if nl := st.Loss(); !(nl <= loss) {
		st.A.CopyFrom(oldA)
		st.residualFromSB()
	} else {
		loss = nl
	}
	// Core values (every ValueEvery-th iteration).
	if r.cfg.ValueEvery <= 1 || r.theoryIters%r.cfg.ValueEvery == 0 {
		oldV := mat.DenseCopyOf(st.V)
		guard(func() { r.updateV(exact) }, func() { st.V.Copy(oldV) })
	}
	// B.
	oldB := st.B.Clone()
	guard(func() { r.updateB(exact) }, func() { st.B.CopyFrom(oldB) })
}

// residualFromSB recomputes E = A·SB − W̄ from the current S·B (valid when
// only A changed since the last Refresh): one (b × b)·(b × d_in) panel
// product per row block, half of Refresh's work.
func (st *ARMORState) residualFromSB() {
	st.ts.residual()
	st.ts.gradValid = false
}

// scratchPanel returns a d_out × d_in work matrix, allocated once per run.
func (r *armorRun) scratchPanel() *mat.Dense {
	if r.panel == nil {
		r.panel = mat.NewDense(r.st.dOut, r.st.dIn, nil)
	}
	return r.panel
}

// updateA sets every A_i to its exact minimizer or takes a 1/β step.
func (r *armorRun) updateA(exact bool) {
	st := r.st
	if !exact {
		st.blockGrads(r.gA, nil)
	}
	panel := r.scratchPanel()
	kernel.For(len(st.A.Sizes), st.threads, func(i int) {
		r0, rs := st.A.Starts[i], st.A.Sizes[i]
		PP := mat.NewSymDense(rs, nil)
		QP := mat.NewDense(rs, rs, nil)
		pp := blas64.General{Rows: rs, Cols: rs, Stride: rs, Data: make([]float64, rs*rs)}
		// Whole row panels (one product of inner dimension d_in instead of
		// one per tile): PP = (SB_i·D)·SB_iᵀ, QP = W̄_i·(SB_i·D)ᵀ.
		sb := view(st.SB, r0, rs, 0, st.dIn)
		sbd := view(panel, r0, rs, 0, st.dIn)
		for u := 0; u < rs; u++ {
			src, dst := sb.Data[u*sb.Stride:u*sb.Stride+st.dIn], sbd.Data[u*sbd.Stride:u*sbd.Stride+st.dIn]
			for v, x := range src {
				dst[v] = x * st.h[v]
			}
		}
		kernel.Gemm64(blas.NoTrans, blas.Trans, 1, sbd, sb, 0, pp)
		if exact {
			kernel.Gemm64(blas.NoTrans, blas.Trans, 1, view(st.wbar, r0, rs, 0, st.dIn), sbd, 0, QP.RawMatrix())
		}
		symFromGeneral(PP, pp)
		Ai := mat.NewDense(rs, rs, st.A.Blocks[i])
		if exact {
			// A_i·PP = QP  ⇔  PP·A_iᵀ = QPᵀ.
			if At := solveNormal(PP, QP.T()); At != nil {
				relaxInto(st.A.Blocks[i], At.T(), r.cfg.Relax)
			}
			return
		}
		beta := 2 * maxEigenSym(PP) / st.denom
		if beta > 0 {
			Ai.Sub(Ai, mat.NewDense(rs, rs, scaled(r.gA.Blocks[i], r.omega()/beta)))
		}
	})
}

// updateB sets every B_j to its exact minimizer or takes 1/β steps column by
// column.
func (r *armorRun) updateB(exact bool) {
	st := r.st
	if !exact {
		st.blockGrads(nil, r.gB)
	}
	// C = A·S as row panels (one (b × b)·(b × d_in) product per row block),
	// then per column block C_jᵀC_j and C_jᵀW̄_j as products of inner
	// dimension d_out.
	as := r.scratchPanel()
	kernel.For(len(st.A.Sizes), st.threads, func(i int) {
		r0, rs := st.A.Starts[i], st.A.Sizes[i]
		kernel.Gemm64(blas.NoTrans, blas.NoTrans, 1, blockView(st.A, i), view(st.S, r0, rs, 0, st.dIn), 0, view(as, r0, rs, 0, st.dIn))
	})
	kernel.For(len(st.B.Sizes), st.threads, func(j int) {
		c0, cs := st.B.Starts[j], st.B.Sizes[j]
		cc := blas64.General{Rows: cs, Cols: cs, Stride: cs, Data: make([]float64, cs*cs)}
		CW := mat.NewDense(cs, cs, nil)
		cj := view(as, 0, st.dOut, c0, cs)
		kernel.Gemm64(blas.Trans, blas.NoTrans, 1, cj, cj, 0, cc)
		if exact {
			kernel.Gemm64(blas.Trans, blas.NoTrans, 1, cj, view(st.wbar, 0, st.dOut, c0, cs), 0, CW.RawMatrix())
		}
		CC := mat.NewSymDense(cs, nil)
		symFromGeneral(CC, cc)
		if exact {
			if sol := solveNormal(CC, CW); sol != nil {
				relaxInto(st.B.Blocks[j], sol, r.cfg.Relax)
			}
			return
		}
		lam := maxEigenSym(CC)
		g := r.gB.Blocks[j]
		for v := 0; v < cs; v++ {
			beta := 2 * st.h[c0+v] * lam / st.denom
			if beta <= 0 {
				continue
			}
			for u := 0; u < cs; u++ {
				st.B.Blocks[j][u*cs+v] -= r.omega() * g[u*cs+v] / beta
			}
		}
	})
}

// updateV updates the kept core values tile by tile.
func (r *armorRun) updateV(exact bool) {
	st := r.st
	st.refreshGrad()
	nr, nc := st.TileCount()
	// λmax(A_iᵀA_i) and B_j·D_j·B_jᵀ per block.
	K := make([]*mat.SymDense, nr)
	lamA := make([]float64, nr)
	kernel.For(nr, st.threads, func(i int) {
		s := st.A.Sizes[i]
		k := mat.NewSymDense(s, nil)
		k.SymOuterK(1, mat.NewDense(s, s, st.A.Blocks[i]).T())
		K[i], lamA[i] = k, maxEigenSym(k)
	})
	Lm := make([]*mat.SymDense, nc)
	lamB := make([]float64, nc)
	kernel.For(nc, st.threads, func(j int) {
		s, c0 := st.B.Sizes[j], st.B.Starts[j]
		bd := mat.NewDense(s, s, nil)
		for u := 0; u < s; u++ {
			for v := 0; v < s; v++ {
				bd.Set(u, v, st.B.Blocks[j][u*s+v]*math.Sqrt(st.h[c0+v]))
			}
		}
		l := mat.NewSymDense(s, nil)
		l.SymOuterK(1, bd)
		Lm[j], lamB[j] = l, maxEigenSym(l)
	})
	if exact {
		r.exactV(symBlocks(K), symBlocks(Lm))
		return
	}
	// One 1/β step per tile, β_ij = 2·λmax(K_i)·λmax(L_j)/denom.
	kernel.For(nr*nc, st.threads, func(t int) {
		i, j := t/nc, t%nc
		beta := 2 * lamA[i] * lamB[j] / st.denom
		if beta <= 0 {
			return
		}
		r0, rs := st.A.Starts[i], st.A.Sizes[i]
		c0, cs := st.B.Starts[j], st.B.Sizes[j]
		g := view(st.GS, r0, rs, c0, cs)
		v := view(st.V, r0, rs, c0, cs)
		for u := 0; u < rs; u++ {
			for w := 0; w < cs; w++ {
				if st.Mask.Keep[(r0+u)*st.dIn+c0+w] {
					v.Data[u*v.Stride+w] -= r.omega() * g.Data[u*g.Stride+w] / beta
				}
			}
		}
	})
}

// exactV minimizes the loss over the kept core values, A, B and the mask
// fixed. Tile (i, j) is an independent quadratic in its masked entries Δ,
//
//	⟨g, Δ⟩ + ½·c·⟨Δ, K_i·Δ·L_j⟩,  K_i = A_iᵀA_i, L_j = B_j·D_j·B_jᵀ, c = 2/denom,
//
// (g = ∂L/∂S), solved by Jacobi-preconditioned conjugate gradients to a
// relative residual of cgTol, at most as many iterations as unknowns. All
// tiles iterate in lockstep so that the operator Δ ↦ K·Δ·L is two panel
// products over the whole matrix; each tile keeps its own scalars and stops
// on its own.
func (r *armorRun) exactV(K, L *BlockDiag) {
	st := r.st
	n := st.dOut * st.dIn
	c := 2 / st.denom
	keep := st.Mask.Keep
	x, res, z, p, ap, tmp := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	diag := make([]float64, n)
	gs := st.GS.RawMatrix().Data
	nr, nc := st.TileCount()
	nt := nr * nc
	rz, r0, done := make([]float64, nt), make([]float64, nt), make([]bool, nt)
	lossTol := cgLossTol * st.Loss() / float64(nt)
	unknowns := 0
	tileDo := func(t int, f func(k int)) {
		i, j := t/nc, t%nc
		r0, rs := st.A.Starts[i], st.A.Sizes[i]
		c0, cs := st.B.Starts[j], st.B.Sizes[j]
		for u := r0; u < r0+rs; u++ {
			for k := u*st.dIn + c0; k < u*st.dIn+c0+cs; k++ {
				f(k)
			}
		}
	}
	for i := range st.A.Sizes {
		for u, ku := 0, st.A.Starts[i]; u < st.A.Sizes[i]; u, ku = u+1, ku+1 {
			kuu := K.Blocks[i][u*st.A.Sizes[i]+u]
			for j := range st.B.Sizes {
				cs := st.B.Sizes[j]
				for w, kw := 0, st.B.Starts[j]; w < cs; w, kw = w+1, kw+1 {
					k := ku*st.dIn + kw
					if keep[k] {
						diag[k] = c * kuu * L.Blocks[j][w*cs+w]
						res[k] = -gs[k]
					}
				}
			}
		}
	}
	for _, k := range keep {
		if k {
			unknowns++
		}
	}
	precond := func(k int) {
		if keep[k] && diag[k] > 0 {
			z[k] = res[k] / diag[k]
		} else {
			z[k] = 0
		}
	}
	kernel.For(nt, st.threads, func(t int) {
		var s, rr float64
		tileDo(t, func(k int) {
			precond(k)
			p[k] = z[k]
			s += float64(res[k] * z[k])
			rr += float64(res[k] * res[k])
		})
		rz[t], r0[t] = s, math.Sqrt(rr)
		done[t] = rr == 0 || s/2 <= lossTol
		if done[t] {
			tileDo(t, func(k int) { p[k] = 0 })
		}
	})
	P := mat.NewDense(st.dOut, st.dIn, p)
	T := mat.NewDense(st.dOut, st.dIn, tmp)
	AP := mat.NewDense(st.dOut, st.dIn, ap)
	maxIt := unknowns
	if r.cfg.CGIters > 0 {
		maxIt = min(maxIt, r.cfg.CGIters)
	}
	for it := 0; it < maxIt; it++ {
		// ap = c·mask⊙(K·P·L), as panel products.
		kernel.For(len(st.B.Sizes), st.threads, func(j int) {
			c0, cs := st.B.Starts[j], st.B.Sizes[j]
			kernel.Gemm64(blas.NoTrans, blas.NoTrans, 1, view(P, 0, st.dOut, c0, cs), blockView(L, j), 0, view(T, 0, st.dOut, c0, cs))
		})
		kernel.For(len(st.A.Sizes), st.threads, func(i int) {
			r0, rs := st.A.Starts[i], st.A.Sizes[i]
			blas64.Gemm(blas.NoTrans, blas.NoTrans, c, blockView(K, i), view(T, r0, rs, 0, st.dIn), 0, view(AP, r0, rs, 0, st.dIn))
		})
		kernel.For(nt, st.threads, func(t int) {
			if done[t] {
				return
			}
			i, j := t/nc, t%nc
			ra, rb := st.A.Starts[i], st.A.Starts[i]+st.A.Sizes[i]
			c0, cs := st.B.Starts[j], st.B.Sizes[j]
			var pAp float64
			for u := ra; u < rb; u++ {
				for k := u*st.dIn + c0; k < u*st.dIn+c0+cs; k++ {
					if keep[k] {
						pAp += p[k] * ap[k]
					}
				}
			}
			stop := !(pAp > 0)
			var rr, s float64
			if !stop {
				alpha := rz[t] / pAp
				for u := ra; u < rb; u++ {
					for k := u*st.dIn + c0; k < u*st.dIn+c0+cs; k++ {
						if keep[k] {
							x[k] += float64(alpha * p[k])
							res[k] -= float64(alpha * ap[k])
							rr += float64(res[k] * res[k])
							if diag[k] > 0 {
								z[k] = res[k] / diag[k]
								s += float64(res[k] * z[k])
							}
						}
					}
				}
				// Stop at a 1e-6 relative residual, or once what is left to
				// gain in this tile (≈ ½·rᵀP⁻¹r, in loss units since the
				// quadratic is the loss itself) is below cgLossTol·L/tiles.
				stop = math.Sqrt(rr) <= cgTol*r0[t] || s/2 <= lossTol
			}
			if stop {
				s = 0
			}
			beta := s / rz[t]
			rz[t] = s
			for u := ra; u < rb; u++ {
				for k := u*st.dIn + c0; k < u*st.dIn+c0+cs; k++ {
					if stop {
						p[k] = 0
					} else {
						p[k] = z[k] + float64(beta*p[k])
					}
				}
			}
			done[t] = stop
		})
		all := true
		for _, d := range done {
			all = all && d
		}
		if all {
			break
		}
	}
	v := st.V.RawMatrix().Data
	for k, kp := range keep {
		if kp {
			v[k] += x[k]
		}
	}
}

// omega is the over-relaxation factor ω (cfg.Relax; ≤ 0 means 1). gd steps
// ω/β instead of 1/β: for a quadratic whose Hessian is bounded by β a step
// t·(−∇) lowers the loss by t·(1 − tβ/2)·‖∇‖² ≥ 0 for every t ≤ 2/β.
func (r *armorRun) omega() float64 {
	if r.cfg.Relax <= 0 {
		return 1
	}
	return r.cfg.Relax
}

// relaxInto moves the row-major block x to x + ω·(x* − x), x* the block's
// exact minimizer (ω ≤ 0 means 1: x = x*). The block's loss is a convex
// quadratic, and along the line through x and x* it is symmetric about x*:
// L(x + ω(x*−x)) = L* + (1−ω)²·(L(x) − L*). So every ω in (0, 2) lowers the
// loss (Theorem 3.1 asks no more), and ω > 1 over-relaxes: alternating
// exact minimizations over coupled blocks zig-zag, and stepping past each
// block's minimizer cuts the zig-zag (successive over-relaxation).
func relaxInto(x []float64, opt mat.Matrix, omega float64) {
	n, _ := opt.Dims()
	for u := 0; u < n; u++ {
		for v := 0; v < n; v++ {
			o := opt.At(u, v)
			if omega <= 0 || omega == 1 {
				x[u*n+v] = o
			} else {
				x[u*n+v] += float64(omega * (o - x[u*n+v]))
			}
		}
	}
}

// symBlocks packs symmetric blocks into a BlockDiag.
func symBlocks(ks []*mat.SymDense) *BlockDiag {
	bd := &BlockDiag{}
	start := 0
	for _, k := range ks {
		s := k.SymmetricDim()
		blk := make([]float64, s*s)
		for u := 0; u < s; u++ {
			for w := 0; w < s; w++ {
				blk[u*s+w] = k.At(u, w)
			}
		}
		bd.Sizes = append(bd.Sizes, s)
		bd.Starts = append(bd.Starts, start)
		bd.Blocks = append(bd.Blocks, blk)
		start += s
	}
	return bd
}

func dot(a, b []float64) float64 {
	s := 0.0
	for k := range a {
		s += a[k] * b[k]
	}
	return s
}

// scaled returns a copy of x times s.
func scaled(x []float64, s float64) []float64 {
	out := make([]float64, len(x))
	for k, v := range x {
		out[k] = v * s
	}
	return out
}

// symFromGeneral copies the symmetric part of g into s.
func symFromGeneral(s *mat.SymDense, g blas64.General) {
	n := g.Rows
	for u := 0; u < n; u++ {
		for v := u; v < n; v++ {
			s.SetSym(u, v, 0.5*(g.Data[u*g.Stride+v]+g.Data[v*g.Stride+u]))
		}
	}
}

// solveNormal returns a solution X of the normal equations K·X = R of a
// least-squares problem (K = PᵀP positive semi-definite, R = PᵀY, so R lies in
// K's range and a solution exists): by Cholesky when K is positive definite,
// else by K's pseudo-inverse from its eigen-decomposition (eigenvalues below
// 1e-12·λmax treated as zero), which gives the minimum-norm minimizer. It
// returns nil only when the decomposition itself fails.
func solveNormal(K *mat.SymDense, R mat.Matrix) *mat.Dense {
	var chol mat.Cholesky
	if chol.Factorize(K) {
		var X mat.Dense
		if err := chol.SolveTo(&X, R); err == nil {
			return &X
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(K, true) {
		return nil
	}
	vals := eig.Values(nil)
	var Q mat.Dense
	eig.VectorsTo(&Q)
	lmax := vals[len(vals)-1]
	n := len(vals)
	inv := mat.NewDiagDense(n, nil)
	for k, v := range vals {
		if v > 1e-12*lmax && v > 0 {
			inv.SetDiag(k, 1/v)
		}
	}
	var QtR, tmp, X mat.Dense
	QtR.Mul(Q.T(), R)
	tmp.Mul(inv, &QtR)
	X.Mul(&Q, &tmp)
	return &X
}

// maxEigenSym returns the largest eigenvalue of a symmetric matrix (0 when
// the decomposition fails, which makes the caller skip the step).
func maxEigenSym(s *mat.SymDense) float64 {
	var eig mat.EigenSym
	if !eig.Factorize(s, false) {
		return 0
	}
	vals := eig.Values(nil)
	return vals[len(vals)-1]
}

// cgTol is the relative residual at which the core-value CG of the exact
// variant stops. The loss's distance to the block minimum shrinks with the
// square of the residual, so 1e-6 leaves it within about 1e-12 of the
// gradient's scale: exact for every purpose here, at a fraction of the
// iterations a 1e-12 residual needs.
const cgTol = 1e-6

// cgLossTol stops the core-value CG of a tile once the loss it could still
// remove there — estimated as ½·rᵀD⁻¹r with D the Jacobi preconditioner —
// is below cgLossTol·L/tiles, so the block is minimized to about 1e-9 of
// the loss, and tiles whose values barely moved since the last iteration stop
// after a step or two. (An estimate, not a bound; the guard of every block
// update keeps the loss non-increasing regardless.)
const cgLossTol = 1e-9
