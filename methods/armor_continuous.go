package methods

import (
	"math"

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
//     gradient norm of 1e-12 (at most as many iterations as unknowns).
//
// Every block update is followed by an exact recomputation of the loss and
// is undone when it did not lower it (which only rounding or a singular
// system can cause), so the loss is non-increasing by construction.

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
	// A.
	oldA := st.A.Clone()
	guard(func() { r.updateA(exact) }, func() { st.A.CopyFrom(oldA) })
	// Core values.
	oldV := mat.DenseCopyOf(st.V)
	guard(func() { r.updateV(exact) }, func() { st.V.Copy(oldV) })
	// B.
	oldB := st.B.Clone()
	guard(func() { r.updateB(exact) }, func() { st.B.CopyFrom(oldB) })
}

// updateA sets every A_i to its exact minimizer or takes a 1/β step.
func (r *armorRun) updateA(exact bool) {
	st := r.st
	if !exact {
		st.blockGrads(r.gA, nil)
	}
	parallelFor(len(st.A.Sizes), st.threads, func(i int) {
		r0, rs := st.A.Starts[i], st.A.Sizes[i]
		PP := mat.NewSymDense(rs, nil)
		QP := mat.NewDense(rs, rs, nil)
		pp := blas64.General{Rows: rs, Cols: rs, Stride: rs, Data: make([]float64, rs*rs)}
		for j := range st.B.Sizes {
			c0, cs := st.B.Starts[j], st.B.Sizes[j]
			sb := view(st.SB, r0, rs, c0, cs)
			sbd := scaledCols(sb, st.h[c0:c0+cs])
			blas64.Gemm(blas.NoTrans, blas.Trans, 1, sbd, sb, 1, pp)
			if exact {
				blas64.Gemm(blas.NoTrans, blas.Trans, 1, view(st.wbar, r0, rs, c0, cs), sbd, 1, QP.RawMatrix())
			}
		}
		symFromGeneral(PP, pp)
		Ai := mat.NewDense(rs, rs, st.A.Blocks[i])
		if exact {
			// A_i·PP = QP  ⇔  PP·A_iᵀ = QPᵀ.
			if At := solveNormal(PP, QP.T()); At != nil {
				Ai.Copy(At.T())
			}
			return
		}
		beta := 2 * maxEigenSym(PP) / st.denom
		if beta > 0 {
			Ai.Sub(Ai, mat.NewDense(rs, rs, scaled(r.gA.Blocks[i], 1/beta)))
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
	parallelFor(len(st.B.Sizes), st.threads, func(j int) {
		c0, cs := st.B.Starts[j], st.B.Sizes[j]
		cc := blas64.General{Rows: cs, Cols: cs, Stride: cs, Data: make([]float64, cs*cs)}
		CW := mat.NewDense(cs, cs, nil)
		maxRows := 0
		for _, s := range st.A.Sizes {
			maxRows = max(maxRows, s)
		}
		as := blas64.General{Cols: cs, Stride: cs, Data: make([]float64, maxRows*cs)}
		for i := range st.A.Sizes {
			r0, rs := st.A.Starts[i], st.A.Sizes[i]
			as.Rows = rs
			blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, blockView(st.A, i), view(st.S, r0, rs, c0, cs), 0, as)
			blas64.Gemm(blas.Trans, blas.NoTrans, 1, as, as, 1, cc)
			if exact {
				blas64.Gemm(blas.Trans, blas.NoTrans, 1, as, view(st.wbar, r0, rs, c0, cs), 1, CW.RawMatrix())
			}
		}
		CC := mat.NewSymDense(cs, nil)
		symFromGeneral(CC, cc)
		Bj := mat.NewDense(cs, cs, st.B.Blocks[j])
		if exact {
			if sol := solveNormal(CC, CW); sol != nil {
				Bj.Copy(sol)
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
				st.B.Blocks[j][u*cs+v] -= g[u*cs+v] / beta
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
	parallelFor(nr, st.threads, func(i int) {
		s := st.A.Sizes[i]
		k := mat.NewSymDense(s, nil)
		k.SymOuterK(1, mat.NewDense(s, s, st.A.Blocks[i]).T())
		K[i], lamA[i] = k, maxEigenSym(k)
	})
	Lm := make([]*mat.SymDense, nc)
	lamB := make([]float64, nc)
	parallelFor(nc, st.threads, func(j int) {
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
	parallelFor(nr*nc, st.threads, func(t int) {
		i, j := t/nc, t%nc
		r0, rs := st.A.Starts[i], st.A.Sizes[i]
		c0, cs := st.B.Starts[j], st.B.Sizes[j]
		g := view(st.GS, r0, rs, c0, cs)
		v := view(st.V, r0, rs, c0, cs)
		keep := func(u, w int) bool { return st.Mask.Keep[(r0+u)*st.dIn+c0+w] }
		if !exact {
			beta := 2 * lamA[i] * lamB[j] / st.denom
			if beta <= 0 {
				return
			}
			for u := 0; u < rs; u++ {
				for w := 0; w < cs; w++ {
					if keep(u, w) {
						v.Data[u*v.Stride+w] -= g.Data[u*g.Stride+w] / beta
					}
				}
			}
			return
		}
		delta := tileCG(K[i], Lm[j], g, keep, 2/st.denom)
		for u := 0; u < rs; u++ {
			for w := 0; w < cs; w++ {
				v.Data[u*v.Stride+w] += delta[u*cs+w]
			}
		}
	})
}

// tileCG minimizes the tile's quadratic in the masked entries Δ:
// ⟨g, Δ⟩ + ½·c·⟨Δ, K·Δ·L⟩ (c·K⊗L the Hessian, g the gradient), i.e. solves
// mask⊙(c·K·Δ·L) = −g by conjugate gradients with a Jacobi preconditioner.
func tileCG(K, L *mat.SymDense, g blas64.General, keep func(u, w int) bool, c float64) []float64 {
	rs, cs := g.Rows, g.Cols
	n := rs * cs
	mask := make([]bool, n)
	unknowns := 0
	for u := 0; u < rs; u++ {
		for w := 0; w < cs; w++ {
			mask[u*cs+w] = keep(u, w)
			if mask[u*cs+w] {
				unknowns++
			}
		}
	}
	x := make([]float64, n)
	res := make([]float64, n) // residual −g − H·x
	diag := make([]float64, n)
	for u := 0; u < rs; u++ {
		for w := 0; w < cs; w++ {
			k := u*cs + w
			if mask[k] {
				res[k] = -g.Data[u*g.Stride+w]
				diag[k] = c * K.At(u, u) * L.At(w, w)
			}
		}
	}
	apply := func(p, out []float64) {
		P := mat.NewDense(rs, cs, p)
		var KP, KPL mat.Dense
		KP.Mul(K, P)
		KPL.Mul(&KP, L)
		d := KPL.RawMatrix().Data
		for k := range out {
			if mask[k] {
				out[k] = c * d[k]
			} else {
				out[k] = 0
			}
		}
	}
	z := make([]float64, n)
	prec := func() {
		for k := range z {
			if mask[k] && diag[k] > 0 {
				z[k] = res[k] / diag[k]
			} else {
				z[k] = 0
			}
		}
	}
	prec()
	p := append([]float64(nil), z...)
	rz := dot(res, z)
	r0 := math.Sqrt(dot(res, res))
	if r0 == 0 {
		return x
	}
	Ap := make([]float64, n)
	for it := 0; it < unknowns; it++ {
		apply(p, Ap)
		pAp := dot(p, Ap)
		if !(pAp > 0) {
			break
		}
		alpha := rz / pAp
		for k := range x {
			x[k] += alpha * p[k]
			res[k] -= alpha * Ap[k]
		}
		if math.Sqrt(dot(res, res)) <= 1e-12*r0 {
			break
		}
		prec()
		rzNew := dot(res, z)
		b := rzNew / rz
		rz = rzNew
		for k := range p {
			p[k] = z[k] + b*p[k]
		}
	}
	return x
}

func dot(a, b []float64) float64 {
	s := 0.0
	for k := range a {
		s += a[k] * b[k]
	}
	return s
}

// scaledCols returns a copy of m with column v multiplied by w[v].
func scaledCols(m blas64.General, w []float64) blas64.General {
	out := blas64.General{Rows: m.Rows, Cols: m.Cols, Stride: m.Cols, Data: make([]float64, m.Rows*m.Cols)}
	for u := 0; u < m.Rows; u++ {
		for v := 0; v < m.Cols; v++ {
			out.Data[u*m.Cols+v] = m.Data[u*m.Stride+v] * w[v]
		}
	}
	return out
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
