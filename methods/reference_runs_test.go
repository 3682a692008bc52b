package methods_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/methods"
)

// TestReferenceARMORRuns runs ARMOR at the budgets of the authors' recorded
// runs (block size, learning rate, iterations) and requires our loss to be no
// higher than theirs plus 5% at every recorded checkpoint from 100 iterations
// on. Their group selection is random, so only the statistics can match.
func TestReferenceARMORRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("full-length ARMOR runs are skipped in -short mode")
	}
	for _, c := range loadCases(t) {
		l := c.layer(t)
		for _, run := range c.meta.ArmorRuns.Runs {
			t.Run(fmt.Sprintf("%s/b%d/lr%g", c.name, run.BlockSize, run.LR), func(t *testing.T) {
				cfg := methods.DefaultARMORConfig()
				cfg.BlockSize, cfg.LR, cfg.Iters = run.BlockSize, run.LR, run.ItersRun
				res, err := (&methods.ARMOR{Pattern: methods.Pattern24, Config: cfg}).Prune(l)
				require.NoError(t, err)
				if res.StoppedEarly {
					// The patience rule's atol (1e-8) is absolute: a run whose
					// loss falls to ~1e-6 may legitimately stop before theirs.
					t.Logf("stopped early after %d iterations at loss %.6g", res.Iterations, res.ProxyLoss)
				}
				assert.LessOrEqual(t, relErr(res.History[0], run.Losses["0"]), tolLoss, "iteration 0 is NoWag-P")
				for key, theirs := range run.Losses {
					it, err := strconv.Atoi(key)
					require.NoError(t, err)
					if it < 100 {
						continue
					}
					ours := res.ProxyLoss // after an early stop: the final loss
					if it < len(res.History) {
						ours = res.History[it]
					}
					t.Logf("iteration %5d: ours %.6g, authors %.6g (ratio %.3f)", it, ours, theirs, ours/theirs)
					assert.LessOrEqual(t, ours, 1.05*theirs, "iteration %d", it)
				}
			})
		}
	}
}
