package methods

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
	"pgregory.net/rapid"
)

// theoryMonotone checks what Theorem 3.1 promises for a gd or exact run:
// the history starts at NoWag-P's loss, never increases beyond rounding
// (H[t] ≤ H[t−1]·(1+1e-12) + 1e-14, the slack of the theory package), the
// result is its last and lowest entry and is no worse than NoWag-P, the mask
// follows the pattern and the folded factors reproduce Ŵ.
func theoryMonotone(t require.TestingT, l *Layer, p Pattern, cfg ARMORConfig) *Result {
	res, err := (&ARMOR{Pattern: p, Config: cfg}).Prune(l)
	require.NoError(t, err)
	now, err := (&NoWagP{Pattern: p}).Prune(l)
	require.NoError(t, err)
	H := res.History
	require.InDelta(t, now.ProxyLoss, H[0], 1e-12*now.ProxyLoss, "start = NoWag-P")
	for k := 1; k < len(H); k++ {
		require.LessOrEqual(t, H[k], H[k-1]*(1+1e-12)+1e-14, "iteration %d increased the loss", k)
	}
	require.LessOrEqual(t, res.ProxyLoss, now.ProxyLoss*(1+1e-9)+1e-14, "result above NoWag-P")
	require.InDelta(t, H[len(H)-1], res.ProxyLoss, 1e-9*res.ProxyLoss+1e-14, "result = last loss")
	require.NoError(t, res.Mask.Satisfies(p))
	var AS, ASB mat.Dense
	AS.Mul(res.A, res.Core)
	ASB.Mul(&AS, res.B)
	require.Less(t, relDiff(&ASB, res.What), 1e-9)
	return res
}

// TestTheoryScheduleKnobsMonotone runs the gd and exact variants with every
// schedule knob (sweeps, value-update period, CG cap, over-relaxation,
// extrapolation, groups per tile) on layers with ragged blocks and several
// patterns, and checks Theorem 3.1's guarantees.
func TestTheoryScheduleKnobsMonotone(t *testing.T) {
	layers := []struct {
		dOut, dIn, b int
		p            Pattern
	}{{48, 64, 16, Pattern24}, {40, 72, 16, Pattern24}, {24, 48, 8, Pattern{1, 4}}, {32, 64, 16, Pattern{4, 8}}}
	knobs := []struct {
		name                       string
		groups, sweeps, cg, vEvery int
		relax                      float64
		extrap                     bool
	}{
		{"all", 0, 0, 0, 0, 0, false},
		{"all relax extrap", 0, 0, 0, 1000, 1.7, true},
		{"all cg=2 v=3 relax", 0, 1, 2, 3, 1.5, true},
		{"sampled 3 sweeps=2", 3, 2, 0, 0, 1.9, false},
		{"one group extrap", 1, 0, 1, 0, 0, true},
	}
	for _, cont := range []Continuous{ContinuousExact, ContinuousGD} {
		for _, k := range knobs {
			for li, ls := range layers {
				t.Run(fmt.Sprintf("%s/%s/%dx%d %s", cont, k.name, ls.dOut, ls.dIn, ls.p), func(t *testing.T) {
					l := randomLayer(t, ls.dOut, ls.dIn, 64, uint64(li)+40)
					cfg := DefaultARMORConfig()
					cfg.Continuous, cfg.BlockSize, cfg.Iters, cfg.Patience, cfg.Threads = cont, ls.b, 15, 0, 2
					cfg.GroupsPerTile, cfg.Sweeps, cfg.CGIters, cfg.ValueEvery = k.groups, k.sweeps, k.cg, k.vEvery
					cfg.Relax, cfg.Extrapolate = k.relax, k.extrap
					res := theoryMonotone(t, l, ls.p, cfg)
					require.Less(t, res.ProxyLoss, res.History[0], "15 iterations should improve on NoWag-P")
				})
			}
		}
	}
}

// TestPropertyTheoryKnobsMonotone is the same check as a rapid property over
// random small layers (shapes, patterns, block sizes, seeds) and random
// knob settings, including tiny layers that the schedule fits exactly.
func TestPropertyTheoryKnobsMonotone(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := rapid.SampledFrom([]Pattern{Pattern24, {1, 4}, {3, 4}, {4, 8}, {2, 8}}).Draw(rt, "pattern")
		dOut := rapid.IntRange(1, 24).Draw(rt, "dOut")
		dIn := p.M * rapid.IntRange(1, 32/p.M).Draw(rt, "dIn/M")
		b := p.M * rapid.IntRange(1, 16/p.M).Draw(rt, "b/M")
		l := randomLayer(t, dOut, dIn, rapid.IntRange(1, 48).Draw(rt, "samples"), rapid.Uint64().Draw(rt, "layer seed"))
		cfg := DefaultARMORConfig()
		cfg.Continuous = rapid.SampledFrom([]Continuous{ContinuousGD, ContinuousExact}).Draw(rt, "continuous")
		cfg.BlockSize, cfg.Iters, cfg.Patience, cfg.Threads = b, rapid.IntRange(1, 25).Draw(rt, "iters"), 0, 1
		cfg.Seed = rapid.Uint64().Draw(rt, "seed")
		cfg.Select = rapid.SampledFrom([]Selection{SelectGradient, SelectGreedy, SelectRandom}).Draw(rt, "select")
		cfg.GroupsPerTile = rapid.IntRange(0, 4).Draw(rt, "groups")
		cfg.Sweeps = rapid.IntRange(0, 3).Draw(rt, "sweeps")
		cfg.CGIters = rapid.IntRange(0, 3).Draw(rt, "cg")
		cfg.ValueEvery = rapid.IntRange(0, 4).Draw(rt, "value every")
		cfg.Relax = rapid.SampledFrom([]float64{0, 0.5, 1, 1.5, 1.7, 1.99}).Draw(rt, "relax")
		cfg.Extrapolate = rapid.Bool().Draw(rt, "extrapolate")
		theoryMonotone(rt, l, p, cfg)
	})
}

// TestTheoryScheduleDeterministicAcrossThreads checks that the sweep and the
// schedule knobs keep results bitwise independent of the thread count.
func TestTheoryScheduleDeterministicAcrossThreads(t *testing.T) {
	l := randomLayer(t, 96, 128, 128, 5)
	var hists [][]float64
	for _, th := range []int{1, 2, 3} {
		cfg := DefaultARMORConfig()
		cfg.Continuous, cfg.BlockSize, cfg.Iters, cfg.Threads, cfg.Seed = ContinuousExact, 16, 10, th, 9
		cfg.GroupsPerTile, cfg.ValueEvery, cfg.CGIters, cfg.Relax, cfg.Extrapolate = 0, 3, 2, 1.7, true
		res, err := (&ARMOR{Pattern: Pattern24, Config: cfg}).Prune(l)
		require.NoError(t, err)
		hists = append(hists, res.History)
	}
	require.Equal(t, hists[0], hists[1])
	require.Equal(t, hists[0], hists[2])
}
