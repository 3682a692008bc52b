package theory

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prunebench/armor/methods"
	"gonum.org/v1/gonum/mat"
	"pgregory.net/rapid"
)

// randomState returns an ARMOR state on layer l moved away from its NoWag-P
// start: A and B are the identity plus Gaussian noise of scale sigma, the core
// values W̄ plus noise, and the mask a random N:M mask.
func randomState(t *rapid.T, s layerSpec, l *methods.Layer) (*methods.Normalization, *methods.ARMORState) {
	norm := methods.Normalize(l.W)
	st, err := methods.NewARMORState(norm, l.Stats.Hdiag, s.Pattern, s.Block, 1)
	if err != nil {
		t.Fatalf("%v: %v", s, err)
	}
	sigma := rapid.SampledFrom([]float64{0, 0.01, 0.1, 0.3}).Draw(t, "sigma")
	rng := rand.New(rand.NewPCG(s.Seed, 0x636f7265))
	A, B := st.A.Clone(), st.B.Clone()
	for _, bd := range []*methods.BlockDiag{A, B} {
		for _, blk := range bd.Blocks {
			for k := range blk {
				blk[k] += sigma * rng.NormFloat64()
			}
		}
	}
	V := mat.DenseCopyOf(norm.Wbar)
	v := V.RawMatrix().Data
	for k := range v {
		v[k] += 0.1 * rng.NormFloat64() * math.Abs(v[k])
	}
	score := make([]float64, s.DOut*s.DIn)
	for k := range score {
		score[k] = rng.Float64()
	}
	M, err := methods.TopNMask(score, s.DOut, s.DIn, s.Pattern)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetFactors(A, B, V, M); err != nil {
		t.Fatal(err)
	}
	return norm, st
}

// directLoss is the proxy loss of A·core·B computed densely from scratch.
func directLoss(norm *methods.Normalization, hdiag []float64, st *methods.ARMORState) float64 {
	var AS, ASB mat.Dense
	AS.Mul(st.A.Dense(), st.Core())
	ASB.Mul(&AS, st.B.Dense())
	return norm.ProxyLossNormalized(hdiag, &ASB)
}

// bruteForceGroup returns the lowest proxy loss reachable by changing only
// group g of st (support and values), trying every one of the C(M, N)
// supports with values from a least-squares solve (gonum QR) of the explicit
// weighted residual: with the group zeroed, Ŵn0 = A·S0·B and
// L(s) = Σ_ij h_j (Ŵn0_ij − W̄_ij + Σ_q A[i,row]·B[col+P_q, j]·s_q)² / denom.
func bruteForceGroup(norm *methods.Normalization, hdiag []float64, st *methods.ARMORState, g methods.Group) (best float64, support []int) {
	p := st.Pattern
	dOut, dIn := norm.Wbar.Dims()
	A, B := st.A.Dense(), st.B.Dense()
	S0 := st.Core()
	for q := 0; q < p.M; q++ {
		S0.Set(g.Row, g.Col+q, 0)
	}
	var AS, R mat.Dense
	AS.Mul(A, S0)
	R.Mul(&AS, B)
	R.Sub(&R, norm.Wbar)
	den := norm.ProxyDenominator(hdiag)
	best = math.Inf(1)
	for _, P := range p.Supports() {
		J := mat.NewDense(dOut*dIn, len(P), nil)
		rhs := mat.NewVecDense(dOut*dIn, nil)
		for i := 0; i < dOut; i++ {
			for j := 0; j < dIn; j++ {
				w := math.Sqrt(hdiag[j])
				rhs.SetVec(i*dIn+j, -w*R.At(i, j))
				for q, pq := range P {
					J.Set(i*dIn+j, q, w*A.At(i, g.Row)*B.At(g.Col+pq, j))
				}
			}
		}
		var x, res mat.VecDense
		if err := x.SolveVec(J, rhs); err != nil {
			continue
		}
		res.MulVec(J, &x)
		res.SubVec(&res, rhs)
		if l := mat.Dot(&res, &res) / den; l < best {
			best, support = l, P
		}
	}
	return best, support
}

// drawGroups picks a random subset of the tiles (at least one) and one random
// group in each.
func drawGroups(t *rapid.T, s layerSpec, st *methods.ARMORState) []methods.Group {
	nr, nc := st.TileCount()
	rowSizes := methods.BlockSizes(s.DOut, s.Block)
	colSizes := methods.BlockSizes(s.DIn, s.Block)
	all := rapid.Bool().Draw(t, "all tiles")
	first := rapid.IntRange(0, nr*nc-1).Draw(t, "tile")
	rng := rand.New(rand.NewPCG(s.Seed, 0x67726f7570))
	var groups []methods.Group
	r0 := 0
	for i := 0; i < nr; i++ {
		c0 := 0
		for j := 0; j < nc; j++ {
			if all || i*nc+j == first {
				groups = append(groups, methods.Group{
					Row: r0 + rng.IntN(rowSizes[i]),
					Col: c0 + s.Pattern.M*rng.IntN(colSizes[j]/s.Pattern.M),
				})
			}
			c0 += colSizes[j]
		}
		r0 += rowSizes[i]
	}
	return groups
}

// TestPropertySparseCoreStepOptimal: for random A, B (identity + noise),
// core values and N:M mask, and one selected group in some or all tiles,
// SparseCoreStep(groups, true) reaches, in every group, the lowest loss over
// all C(M, N) supports with least-squares values (brute force; groups of
// different tiles are independent, so the total decrease is the sum of the
// per-group optimal decreases), never increases the loss, keeps the mask
// N:M, leaves every other group untouched, and keeps its incrementally
// updated residual equal to a fresh A·core·B.
func TestPropertySparseCoreStepOptimal(t *testing.T) {
	property(t, "1 sparse-core step = brute-force optimum", []measure{
		{"opt", "abs(L_step − L_bruteforce) / L_before", 1e-9},
		{"inc", "(L_after − L_before) / L_before", 1e-12},
		{"fresh", "abs(Loss() − L(A·core·B)) / L", 1e-10},
	}, 200, func(t *rapid.T, c *caseStats) {
		s, l := mustLayer(t, 48, 64)
		norm, st := randomState(t, s, l)
		h := l.Stats.Hdiag
		groups := drawGroups(t, s, st)
		before := st.Loss()
		coreBefore := st.Core()
		expected := before
		for _, g := range groups {
			best, _ := bruteForceGroup(norm, h, st, g)
			expected -= before - math.Min(best, before)
		}
		if _, err := st.SparseCoreStep(groups, true); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		after := st.Loss()
		opt := math.Abs(after-expected) / before
		inc := (after - before) / before
		fresh := relDiff(after, directLoss(norm, h, st))
		c.observe("opt", opt)
		c.observe("inc", inc)
		c.observe("fresh", fresh)
		if opt > 1e-9 {
			t.Fatalf("%v: after the step L = %.17g, brute force over every support gives %.17g (before %.17g, %d groups)", s, after, expected, before, len(groups))
		}
		if inc > 1e-12 {
			t.Fatalf("%v: the step increased the loss %.17g -> %.17g", s, before, after)
		}
		if fresh > 1e-10 {
			t.Fatalf("%v: incremental loss %.17g, recomputed %.17g", s, after, directLoss(norm, h, st))
		}
		if err := st.Mask.Satisfies(s.Pattern); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		touched := map[[2]int]bool{}
		for _, g := range groups {
			for q := 0; q < s.Pattern.M; q++ {
				touched[[2]int{g.Row, g.Col + q}] = true
			}
		}
		core := st.Core()
		for i := 0; i < s.DOut; i++ {
			for j := 0; j < s.DIn; j++ {
				if !st.Mask.At(i, j) && core.At(i, j) != 0 {
					t.Fatalf("%v: core (%d, %d) = %g off the mask", s, i, j, core.At(i, j))
				}
				if !touched[[2]int{i, j}] && core.At(i, j) != coreBefore.At(i, j) {
					t.Fatalf("%v: core (%d, %d) changed outside the selected groups", s, i, j)
				}
			}
		}
	})
}
