package theory

import (
	"math"
	"testing"

	"github.com/prunebench/armor/methods"
	"gonum.org/v1/gonum/mat"
	"pgregory.net/rapid"
)

// methodNames are the registered methods, every one of which must follow
// the pattern.
var methodNames = []string{"magnitude", "wanda", "sparsegpt", "nowag", "armor"}

// TestPropertyPatternRespected: every method's output follows its N:M
// pattern exactly. For the plain methods the mask satisfies the pattern and
// Ŵ is exactly zero off it (and equals W on it for the mask-only methods);
// for ARMOR the core's mask satisfies the pattern, the core is zero off it,
// A and B are zero off their diagonal blocks, the folded factors reproduce
// Ŵ (A·core·B = Ŵ to 1e-9 relative in float64) and the reported loss is the
// loss of that Ŵ.
func TestPropertyPatternRespected(t *testing.T) {
	property(t, "5 N:M respected; A·core·B = Ŵ", []measure{
		{"fold", "‖A·core·B − Ŵ‖_F / ‖Ŵ‖_F (ARMOR)", 1e-9},
		{"loss", "abs(Result.ProxyLoss − L(Ŵ)) / L (all)", 1e-9},
	}, 60, func(rt *rapid.T, c *caseStats) {
		s, l := mustLayer(rt, 48, 64)
		cfg := methods.DefaultConfig()
		cfg.Pattern = s.Pattern
		cfg.SparseGPT.LazyBlock = s.Pattern.M * rapid.IntRange(1, 32/s.Pattern.M).Draw(rt, "sparsegpt block/M")
		cfg.ARMOR = armorConfig(s, rapid.SampledFrom([]methods.Continuous{methods.ContinuousAdam, methods.ContinuousGD, methods.ContinuousExact}).Draw(rt, "continuous"),
			rapid.IntRange(0, 10).Draw(rt, "iters"), rapid.Uint64().Draw(rt, "armor seed"))
		for _, name := range methodNames {
			m, err := methods.New(name, cfg)
			if err != nil {
				rt.Fatal(err)
			}
			res, err := m.Prune(l)
			if err != nil {
				rt.Fatalf("%v %s: %v", s, name, err)
			}
			if err := res.Mask.Satisfies(s.Pattern); err != nil {
				rt.Fatalf("%v %s: %v", s, name, err)
			}
			L, err := methods.ProxyLoss(l.W, res.What, l.Stats.Hdiag)
			if err != nil {
				rt.Fatal(err)
			}
			dl := math.Abs(res.ProxyLoss-L) / (L + absSlack)
			c.observe("loss", dl)
			if dl > 1e-9 {
				rt.Fatalf("%v %s: reported loss %.17g, L(Ŵ) = %.17g", s, name, res.ProxyLoss, L)
			}
			if name != "armor" {
				for i := 0; i < s.DOut; i++ {
					for j := 0; j < s.DIn; j++ {
						w := res.What.At(i, j)
						if !res.Mask.At(i, j) && w != 0 {
							rt.Fatalf("%v %s: Ŵ(%d, %d) = %g is off the mask", s, name, i, j, w)
						}
						if name != "sparsegpt" && res.Mask.At(i, j) && w != l.W.At(i, j) {
							rt.Fatalf("%v %s: kept Ŵ(%d, %d) = %g, W = %g", s, name, i, j, w, l.W.At(i, j))
						}
					}
				}
				continue
			}
			for i := 0; i < s.DOut; i++ {
				for j := 0; j < s.DIn; j++ {
					if !res.Mask.At(i, j) && res.Core.At(i, j) != 0 {
						rt.Fatalf("%v armor: core(%d, %d) = %g is off the mask", s, i, j, res.Core.At(i, j))
					}
				}
			}
			offBlocks(rt, s, "A", res.A, methods.BlockSizes(s.DOut, s.Block))
			offBlocks(rt, s, "B", res.B, methods.BlockSizes(s.DIn, s.Block))
			var AS, ASB mat.Dense
			AS.Mul(res.A, res.Core)
			ASB.Mul(&AS, res.B)
			fold := relFrob(&ASB, res.What)
			c.observe("fold", fold)
			if fold > 1e-9 {
				rt.Fatalf("%v armor: ‖A·core·B − Ŵ‖/‖Ŵ‖ = %.3g", s, fold)
			}
		}
	})
}

// offBlocks fails when the d × d matrix X has a non-zero entry outside its
// diagonal blocks of the given sizes.
func offBlocks(t *rapid.T, s layerSpec, name string, X *mat.Dense, sizes []int) {
	blockOf := make([]int, 0)
	for k, sz := range sizes {
		for q := 0; q < sz; q++ {
			blockOf = append(blockOf, k)
		}
	}
	r, c := X.Dims()
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			if blockOf[i] != blockOf[j] && X.At(i, j) != 0 {
				t.Fatalf("%v armor: %s(%d, %d) = %g is off the diagonal blocks", s, name, i, j, X.At(i, j))
			}
		}
	}
}
