package theory

import (
	"math"
	"testing"

	"github.com/prunebench/armor/methods"
	"gonum.org/v1/gonum/mat"
	"pgregory.net/rapid"
)

// groupCost is the numerator of the proxy loss restricted to row i and the
// group of columns g..g+M−1 when the kept values are W's own (Ŵ = W⊙M):
// Σ_j h_j (Ŵn_ij − W̄_ij)², with Ŵn_ij = W_ij/(r_i c_j) on the support and 0
// off it, computed exactly as the definition reads.
func groupCost(norm *methods.Normalization, W *mat.Dense, h []float64, i, g int, keep func(q int) bool, M int) float64 {
	s := 0.0
	for q := 0; q < M; q++ {
		j := g + q
		v := 0.0
		if keep(q) {
			v = W.At(i, j) / (norm.R[i] * norm.C[j])
		}
		d := v - norm.Wbar.At(i, j)
		s += float64(h[j] * d * d)
	}
	return s
}

// TestPropertyNoWagOptimalPerGroup: with values kept (Ŵ = W⊙M) the proxy
// loss is a sum of independent per-(row, group) terms, so NoWag-P is optimal
// among all N:M masks iff in every group its support has the least cost among
// all C(M, N) supports. Checked by brute force on every group, and the sum
// of the per-group minima equals NoWag-P's reported loss.
func TestPropertyNoWagOptimalPerGroup(t *testing.T) {
	property(t, "4a NoWag-P mask optimal (per group)", []measure{
		{"group", "(cost_NoWag − min_P cost_P) / Σ_j h_j W̄_ij² (group)", 1e-12},
		{"total", "abs(L(NoWag-P) − Σ min) / L", 1e-12},
	}, 200, func(rt *rapid.T, c *caseStats) {
		s, l := mustLayer(rt, 48, 64)
		res, err := prune("nowag", s.Pattern, methods.DefaultARMORConfig(), l)
		if err != nil {
			rt.Fatalf("%v: %v", s, err)
		}
		norm := methods.Normalize(l.W)
		h, M := l.Stats.Hdiag, s.Pattern.M
		supports := s.Pattern.Supports()
		sum := 0.0
		for i := 0; i < s.DOut; i++ {
			for g := 0; g < s.DIn; g += M {
				mine := groupCost(norm, l.W, h, i, g, func(q int) bool { return res.Mask.At(i, g+q) }, M)
				best := math.Inf(1)
				for _, P := range supports {
					in := make([]bool, M)
					for _, q := range P {
						in[q] = true
					}
					best = math.Min(best, groupCost(norm, l.W, h, i, g, func(q int) bool { return in[q] }, M))
				}
				scale := groupCost(norm, l.W, h, i, g, func(int) bool { return false }, M)
				margin := (mine - best) / math.Max(scale, 1e-300)
				c.observe("group", margin)
				if margin > 1e-12 {
					rt.Fatalf("%v: row %d group %d: NoWag-P's support costs %.17g, the best support %.17g", s, i, g, mine, best)
				}
				sum += best
			}
		}
		total := math.Abs(res.ProxyLoss-sum/norm.ProxyDenominator(h)) / math.Max(res.ProxyLoss, 1e-300)
		c.observe("total", total)
		if total > 1e-12 {
			rt.Fatalf("%v: NoWag-P's loss %.17g, sum of per-group minima %.17g", s, res.ProxyLoss, sum/norm.ProxyDenominator(h))
		}
	})
}

// TestPropertyNoWagOptimalGlobal enumerates every N:M mask of tiny layers
// (at most 5000 masks) and checks that none has a lower proxy loss than
// NoWag-P's (values kept), using the library's ProxyLoss on W⊙M: a global
// check that does not rely on the per-group decomposition.
func TestPropertyNoWagOptimalGlobal(t *testing.T) {
	property(t, "4b NoWag-P mask optimal (all masks)", []measure{
		{"gap", "(L(NoWag-P) − min_M L(W⊙M)) / L(NoWag-P)", 1e-12},
	}, 100, func(rt *rapid.T, c *caseStats) {
		var s layerSpec
		s.Pattern = rapid.SampledFrom(patterns).Draw(rt, "pattern")
		nsup := len(s.Pattern.Supports())
		// rows × groups positions, each with nsup supports, ≤ 5000 masks.
		slots := max(1, int(math.Floor(math.Log(5000)/math.Log(float64(nsup)))))
		groups := rapid.IntRange(1, min(2, slots)).Draw(rt, "groups")
		s.DIn = groups * s.Pattern.M
		s.DOut = rapid.IntRange(1, max(1, slots/groups)).Draw(rt, "d_out")
		s.Block, s.Tokens = s.Pattern.M, rapid.IntRange(1, 16).Draw(rt, "tokens")
		s.Dof = rapid.IntRange(1, 8).Draw(rt, "dof")
		s.Outliers = rapid.IntRange(0, 2).Draw(rt, "outliers")
		s.Seed = rapid.Uint64().Draw(rt, "seed")
		l, err := s.build()
		if err != nil {
			rt.Fatal(err)
		}
		res, err := prune("nowag", s.Pattern, methods.DefaultARMORConfig(), l)
		if err != nil {
			rt.Fatalf("%v: %v", s, err)
		}
		supports := s.Pattern.Supports()
		nslot := s.DOut * groups
		idx := make([]int, nslot)
		best := math.Inf(1)
		for {
			m := methods.NewMask(s.DOut, s.DIn)
			for k, sup := range idx {
				i, g := k/groups, k%groups
				for _, q := range supports[sup] {
					m.Keep[i*s.DIn+g*s.Pattern.M+q] = true
				}
			}
			What := mat.DenseCopyOf(l.W)
			for k, keep := range m.Keep {
				if !keep {
					What.RawMatrix().Data[k] = 0
				}
			}
			L, err := methods.ProxyLoss(l.W, What, l.Stats.Hdiag)
			if err != nil {
				rt.Fatal(err)
			}
			best = math.Min(best, L)
			k := 0
			for ; k < nslot; k++ {
				idx[k]++
				if idx[k] < len(supports) {
					break
				}
				idx[k] = 0
			}
			if k == nslot {
				break
			}
		}
		gap := (res.ProxyLoss - best) / math.Max(res.ProxyLoss, 1e-300)
		c.observe("gap", gap)
		if gap > 1e-12 {
			rt.Fatalf("%v: NoWag-P's loss %.17g, the best of all masks %.17g", s, res.ProxyLoss, best)
		}
	})
}
