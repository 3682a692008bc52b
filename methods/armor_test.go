package methods

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

func TestARMORStartsAtNoWagAndNeverEndsAbove(t *testing.T) {
	cases := []struct {
		name         string
		dOut, dIn, b int
		p            Pattern
		sel          Selection
	}{
		{"2:4 b32", 64, 128, 32, Pattern24, SelectGradient},
		{"ragged 64x172 b32", 64, 172, 32, Pattern24, SelectGradient},
		{"1:4 greedy", 48, 64, 16, Pattern{1, 4}, SelectGreedy},
		{"4:8 random", 40, 64, 16, Pattern{4, 8}, SelectRandom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := randomLayer(t, tc.dOut, tc.dIn, 256, 3)
			cfg := DefaultARMORConfig()
			cfg.BlockSize, cfg.Iters, cfg.Select, cfg.LR = tc.b, 60, tc.sel, 1e-3
			res, err := (&ARMOR{Pattern: tc.p, Config: cfg}).Prune(l)
			require.NoError(t, err)
			now, err := (&NoWagP{Pattern: tc.p}).Prune(l)
			require.NoError(t, err)
			assert.InDelta(t, now.ProxyLoss, res.History[0], 1e-12*now.ProxyLoss, "start = NoWag-P")
			assert.LessOrEqual(t, res.ProxyLoss, now.ProxyLoss*(1+1e-9))
			assert.Less(t, res.ProxyLoss, 0.97*now.ProxyLoss, "60 iterations should improve on NoWag-P")
			require.NoError(t, res.Mask.Satisfies(tc.p))
			// Folded factors reproduce Ŵ.
			var AS, ASB mat.Dense
			AS.Mul(res.A, res.Core)
			ASB.Mul(&AS, res.B)
			assert.Less(t, relDiff(&ASB, res.What), 1e-12)
			// The reported loss is the loss of the returned weight.
			direct, err := ProxyLoss(l.W, res.What, l.Stats.Hdiag)
			require.NoError(t, err)
			assert.InDelta(t, direct, res.ProxyLoss, 1e-9*direct)
			assert.InDelta(t, minSlice(res.History), res.ProxyLoss, 1e-9*res.ProxyLoss, "best state returned")
		})
	}
}

// TestARMORDeterministicAcrossThreads: 1, 2 and 3 threads give bitwise the
// same history, with wide blocks (whole column blocks per task) and narrow
// ones (row chunks across blocks, gB by block ranges in row chunks; 224 rows
// leave partial chunks).
func TestARMORDeterministicAcrossThreads(t *testing.T) {
	for _, tc := range []struct{ dOut, b int }{{96, 128}, {224, 32}} {
		l := randomLayer(t, tc.dOut, 128, 128, 5)
		var hists [][]float64
		for _, th := range []int{1, 2, 3} {
			cfg := DefaultARMORConfig()
			cfg.Iters, cfg.Threads, cfg.Seed, cfg.BlockSize = 20, th, 9, tc.b
			res, err := (&ARMOR{Pattern: Pattern24, Config: cfg}).Prune(l)
			require.NoError(t, err)
			hists = append(hists, res.History)
		}
		assert.Equal(t, hists[0], hists[1], "b = %d", tc.b)
		assert.Equal(t, hists[0], hists[2], "b = %d", tc.b)
	}
}

// TestSparseCoreStepBruteForce checks the closed-form group update against
// trying every support with least-squares values directly on the loss.
func TestSparseCoreStepBruteForce(t *testing.T) {
	for _, p := range []Pattern{Pattern24, {1, 4}, {4, 8}, {3, 8}} {
		for seed := uint64(0); seed < 5; seed++ {
			l := randomLayer(t, 16, 32, 64, seed+100)
			norm := Normalize(l.W)
			st, err := NewARMORState(norm, l.Stats.Hdiag, p, 8*((p.M+7)/8)*2, 1)
			require.NoError(t, err)
			perturb(st, seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			g := Group{Row: rng.IntN(16), Col: p.M * rng.IntN(32/p.M)}
			before := st.Loss()
			want := bruteForceGroup(t, st, g)
			_, err = st.SparseCoreStep([]Group{g}, false)
			require.NoError(t, err)
			got := st.Loss()
			assert.InDelta(t, want, got, 1e-7*want, "pattern %s seed %d", p, seed)
			assert.LessOrEqual(t, got, before*(1+1e-12))
			// The incrementally updated residual equals a fresh one.
			fresh := st.Clone()
			fresh.Refresh()
			assert.InDelta(t, fresh.Loss(), got, 1e-12*got)
		}
	}
}

// perturb moves A, B and V away from the identity start.
func perturb(st *ARMORState, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, bd := range []*BlockDiag{st.A, st.B} {
		for _, b := range bd.Blocks {
			for k := range b {
				b[k] += 0.1 * rng.NormFloat64()
			}
		}
	}
	v := st.V.RawMatrix().Data
	for k := range v {
		v[k] += 0.05 * rng.NormFloat64()
	}
	st.Refresh()
}

// bruteForceGroup returns the lowest loss reachable by changing only group g:
// every support, values by least squares solved with gonum on the explicit
// weighted residual.
func bruteForceGroup(t *testing.T, st *ARMORState, g Group) float64 {
	p := st.Pattern
	best := math.Inf(1)
	for _, P := range p.Supports() {
		c := st.Clone()
		for q := 0; q < p.M; q++ {
			c.Mask.Keep[g.Row*c.dIn+g.Col+q] = false
			c.V.Set(g.Row, g.Col+q, 0)
		}
		c.Refresh()
		// Loss(s) = ‖vec(E0) + J s‖²_h, J's column q = vec of A e_row (B row col+q)ᵀ.
		A, B := c.A.Dense(), c.B.Dense()
		n := c.dOut * c.dIn
		J := mat.NewDense(n, len(P), nil)
		r := mat.NewVecDense(n, nil)
		for i := 0; i < c.dOut; i++ {
			for j := 0; j < c.dIn; j++ {
				w := math.Sqrt(c.h[j])
				r.SetVec(i*c.dIn+j, -w*c.E.At(i, j))
				for q, pq := range P {
					J.Set(i*c.dIn+j, q, w*A.At(i, g.Row)*B.At(g.Col+pq, j))
				}
			}
		}
		var s mat.VecDense
		if err := s.SolveVec(J, r); err != nil {
			continue
		}
		for q, pq := range P {
			c.Mask.Keep[g.Row*c.dIn+g.Col+pq] = true
			c.V.Set(g.Row, g.Col+pq, s.AtVec(q))
		}
		c.Refresh()
		best = math.Min(best, c.Loss())
	}
	return best
}

func relDiff(a, b mat.Matrix) float64 {
	var d mat.Dense
	d.Sub(a, b)
	return mat.Norm(&d, 2) / mat.Norm(b, 2)
}

func minSlice(x []float64) float64 {
	m := math.Inf(1)
	for _, v := range x {
		m = math.Min(m, v)
	}
	return m
}

func TestARMORTheoryVariantsAreMonotone(t *testing.T) {
	for _, cont := range []Continuous{ContinuousGD, ContinuousExact} {
		for _, tc := range []struct {
			dOut, dIn, b int
			p            Pattern
		}{{64, 128, 32, Pattern24}, {40, 56, 16, Pattern{1, 4}}, {48, 64, 16, Pattern{4, 8}}} {
			l := randomLayer(t, tc.dOut, tc.dIn, 256, 11)
			cfg := DefaultARMORConfig()
			cfg.Continuous, cfg.BlockSize, cfg.Iters, cfg.Patience = cont, tc.b, 40, 0
			res, err := (&ARMOR{Pattern: tc.p, Config: cfg}).Prune(l)
			require.NoError(t, err)
			for k := 1; k < len(res.History); k++ {
				require.LessOrEqual(t, res.History[k], res.History[k-1], "%s %v: iteration %d increased the loss", cont, tc, k)
			}
			t.Logf("%s %dx%d b%d %s: NoWag %.5g -> %.5g after %d", cont, tc.dOut, tc.dIn, tc.b, tc.p, res.History[0], res.ProxyLoss, res.Iterations)
		}
	}
}

// TestIncrementalGradientsMatchFresh checks that the rank-one updates of the
// sparse-core step keep G, T = AᵀG and ∂L/∂S equal to a fresh computation.
func TestIncrementalGradientsMatchFresh(t *testing.T) {
	l := randomLayer(t, 40, 72, 64, 21)
	norm := Normalize(l.W)
	st, err := NewARMORState(norm, l.Stats.Hdiag, Pattern24, 16, 1)
	require.NoError(t, err)
	perturb(st, 3)
	st.refreshGrad()
	cfg := DefaultARMORConfig()
	cfg.BlockSize = 16
	run := newARMORRun(st, cfg)
	_, err = st.SparseCoreStep(run.selectGroups(), true)
	require.NoError(t, err)
	fresh := st.Clone()
	fresh.Refresh()
	fresh.refreshGrad()
	assert.Less(t, relDiff(st.E, fresh.E), 1e-12)
	assert.Less(t, relDiff(st.SB, fresh.SB), 1e-12)
	assert.Less(t, relDiff(st.G, fresh.G), 1e-12)
	assert.Less(t, relDiff(st.T, fresh.T), 1e-12)
	assert.Less(t, relDiff(st.GS, fresh.GS), 1e-12)
}

// TestExactBlockSingular checks that the exact A and B updates still minimize
// their blocks when the normal equations are singular (a row block of the core
// that is entirely zero makes P_i·P_iᵀ singular).
func TestExactBlockSingular(t *testing.T) {
	l := randomLayer(t, 32, 32, 64, 8)
	norm := Normalize(l.W)
	st, err := NewARMORState(norm, l.Stats.Hdiag, Pattern24, 16, 1)
	require.NoError(t, err)
	perturb(st, 4)
	for r := 0; r < 16; r++ { // zero every value of row block 0, column block 0
		for c := 0; c < 16; c++ {
			st.V.Set(r, c, 0)
		}
	}
	for r := 0; r < 8; r++ { // and make rows 0..7 of the core entirely zero
		for c := 0; c < 32; c++ {
			st.V.Set(r, c, 0)
		}
	}
	st.Refresh()
	cfg := DefaultARMORConfig()
	cfg.BlockSize, cfg.Continuous = 16, ContinuousExact
	run := newARMORRun(st, cfg)
	before := st.Loss()
	run.updateA(true)
	st.Refresh()
	afterA := st.Loss()
	assert.Less(t, afterA, before, "the exact A update must not be skipped")
	// Optimality: the gradient with respect to A vanishes.
	st.blockGrads(run.gA, nil)
	for _, blk := range run.gA.Blocks {
		for _, g := range blk {
			assert.InDelta(t, 0, g, 1e-9)
		}
	}
	run.updateB(true)
	st.Refresh()
	st.blockGrads(nil, run.gB)
	for _, blk := range run.gB.Blocks {
		for _, g := range blk {
			assert.InDelta(t, 0, g, 1e-9)
		}
	}
}
