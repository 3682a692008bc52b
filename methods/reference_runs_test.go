package methods_test

import (
	"fmt"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/methods"
)

// TestReferenceARMORRuns runs ARMOR at the budgets of the authors' recorded
// runs (block size, learning rate, iterations) and requires the median of our
// loss over selection seeds 0, 1 and 2 to be no higher than theirs plus 5%
// (float32: 8%, see refRunBound) at every recorded checkpoint from 100
// iterations on. Their group selection is
// random, so only the statistics can match: one trajectory is chaotic in its
// rounding (a different BLAS gives a different run) and single seeds spread
// by several per cent. Both storage types are checked (the authors ran
// float32).
func TestReferenceARMORRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("full-length ARMOR runs are skipped in -short mode")
	}
	seeds := []uint64{0, 1, 2}
	for _, c := range loadCases(t) {
		l := c.layer(t)
		for _, run := range c.meta.ArmorRuns.Runs {
			for _, prec := range []methods.Precision{methods.Float64, methods.Float32} {
				t.Run(fmt.Sprintf("%s/b%d/lr%g/%s", c.name, run.BlockSize, run.LR, prec), func(t *testing.T) {
					checkReferenceRun(t, l, run, prec, seeds)
				})
			}
		}
	}
}

func checkReferenceRun(t *testing.T, l *methods.Layer, run armorRun, prec methods.Precision, seeds []uint64) {
	// The starting loss is NoWag-P's, exactly in float64 and to float32
	// rounding in float32.
	tol0 := tolLoss
	if prec == methods.Float32 {
		tol0 = 1e-5
	}
	var results []*methods.Result
	for _, seed := range seeds {
		cfg := methods.DefaultARMORConfig()
		cfg.BlockSize, cfg.LR, cfg.Iters, cfg.Seed, cfg.Precision = run.BlockSize, run.LR, run.ItersRun, seed, prec
		res, err := (&methods.ARMOR{Pattern: methods.Pattern24, Config: cfg}).Prune(l)
		require.NoError(t, err)
		assert.LessOrEqual(t, relErr(res.History[0], run.Losses["0"]), tol0, "iteration 0 is NoWag-P")
		if res.StoppedEarly {
			// The patience rule's atol (1e-8) is absolute: a run whose
			// loss falls to ~1e-6 may legitimately stop before theirs.
			t.Logf("seed %d stopped early after %d iterations at loss %.6g", seed, res.Iterations, res.ProxyLoss)
		}
		results = append(results, res)
	}
	for key, theirs := range run.Losses {
		it, err := strconv.Atoi(key)
		require.NoError(t, err)
		if it < 100 {
			continue
		}
		var ours []float64
		for _, res := range results {
			v := res.ProxyLoss // after an early stop: the final loss
			if it < len(res.History) {
				v = res.History[it]
			}
			ours = append(ours, v)
		}
		sort.Float64s(ours)
		med := ours[len(ours)/2]
		t.Logf("iteration %5d: ours (median of seeds %v) %.6g, authors %.6g (ratio %.3f; seeds %.3f..%.3f)",
			it, seeds, med, theirs, med/theirs, ours[0]/theirs, ours[len(ours)-1]/theirs)
		assert.LessOrEqual(t, med, refRunBound(prec)*theirs, "iteration %d", it)
	}
}

// refRunBound is how far above the authors' loss the median of our three
// seeds may be. float64: 5%. float32: 8%, because on the smallest recorded
// layer (64 × 128, b = 32, lr 1e-3) float32 runs sit at the 5% line at
// iteration 500 whatever the details: over 12 seeds the median ratio there
// was 1.052 (residual projections from E) and 1.050 (from Tg, the current
// code), single seeds 0.95–1.14, while at 2000 iterations the same runs are
// at 0.49–0.64 of the authors' loss. A three-seed median at a 5% bound then
// passes or fails by chance.
func refRunBound(prec methods.Precision) float64 {
	if prec == methods.Float32 {
		return 1.08
	}
	return 1.05
}
