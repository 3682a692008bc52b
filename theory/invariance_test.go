package theory

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prunebench/armor/methods"
	"gonum.org/v1/gonum/mat"
	"pgregory.net/rapid"
)

// scaled returns a copy of W times c.
func scaled(W *mat.Dense, c float64) *mat.Dense {
	var out mat.Dense
	out.Scale(c, W)
	return &out
}

// maskDiff counts the entries where two masks differ.
func maskDiff(a, b *methods.Mask) int {
	n := 0
	for k := range a.Keep {
		if a.Keep[k] != b.Keep[k] {
			n++
		}
	}
	return n
}

// drawScale draws the positive constant: a power of two (exact in floating
// point) or an arbitrary value in [0.1, 10].
func drawScale(t *rapid.T) (c float64, pow2 bool) {
	if rapid.Bool().Draw(t, "power of two") {
		return math.Ldexp(1, rapid.IntRange(-10, 10).Draw(t, "log2 c")), true
	}
	return rapid.Float64Range(0.1, 10).Draw(t, "c"), false
}

// TestPropertyScaleInvariance: W → c·W (c > 0). What holds exactly and what
// only approximately, because NoWag's norms carry a +1e-5 that does not
// scale:
//   - magnitude and wanda: mask identical for every c (ranking |c·w| is
//     ranking |w|);
//   - sparsegpt: mask identical and Ŵ(cW) = c·Ŵ(W) bit for bit when c is a
//     power of two (every operation scales exactly);
//   - nowag: the normalized weight changes as W̄'_ij = W̄_ij·ρ_i·κ_j with
//     κ_j = c·C_j/C'_j = (‖W_j‖+1e-5/c)… so within a row the scores of
//     columns j and k change by the factor (κ_j/κ_k)²; a mask can only flip
//     between j and k when |log(s_j/s_k)| ≤ 2|log(κ_j/κ_k)|, which is
//     asserted for every flip;
//   - the proxy loss of a fixed mask (values kept) changes because W̄ does:
//     L'/L lies within [min f/max f, max f/min f], f_ij = (W̄'_ij/W̄_ij)²,
//     asserted; the output error E is invariant to rounding (asserted 1e-12);
//   - armor: measured only (relative loss change).
//
// The size of all these effects is governed by 1e-5/‖W[:, j]‖₂, which is
// large for the tiny layers the generator also draws (one row of small
// weights); the summary reports them separately for layers whose smallest
// column norm (of W and of c·W) is ≥ 0.05, like real LLM layers (thousands
// of rows).
func TestPropertyScaleInvariance(t *testing.T) {
	property(t, "6a scale W by c > 0", []measure{
		{"flip", "NoWag flips: abs log(s_j/s_k) / (2·abs log(κ_j/κ_k) + 1e-12)", 1},
		{"nowagflips", "NoWag-P: fraction of mask entries flipped", math.NaN()},
		{"L", "mask-only: (ΔL/L) / (max f/min f − 1)", 1},
		{"Lrel", "mask-only: ΔL/L (magnitude, wanda, nowag)", math.NaN()},
		{"E", "mask-only: ΔE/E", 1e-12},
		{"armorL", "armor (10 it.): ΔL/L", math.NaN()},
		{"eps", "1e-5 / min_j ‖W_j‖₂ (W or cW, whichever smaller)", math.NaN()},
		{"nowagflipsBig", "col norms ≥ 0.05: NoWag-P flip fraction", math.NaN()},
		{"LrelBig", "col norms ≥ 0.05: mask-only ΔL/L", math.NaN()},
		{"armorLBig", "col norms ≥ 0.05: armor ΔL/L", math.NaN()},
	}, 100, func(rt *rapid.T, cs *caseStats) {
		s, l := mustLayer(rt, 48, 64)
		c, pow2 := drawScale(rt)
		lc := &methods.Layer{W: scaled(l.W, c), Stats: l.Stats, X: l.X}
		what := fmt.Sprintf("%v c=%g", s, c)
		acfg := armorConfig(s, methods.ContinuousAdam, 10, 1)
		norm, normC := methods.Normalize(l.W), methods.Normalize(lc.W)
		minNorm := math.Inf(1)
		for _, cj := range norm.C {
			minNorm = math.Min(minNorm, cj-1e-5)
		}
		// The +1e-5 matters through 1e-5 over the smallest column norm of W
		// and of c·W.
		minNorm *= math.Min(1, c)
		big := minNorm >= 0.05
		cs.observe("eps", 1e-5/minNorm)
		// f_ij and its spread.
		fmin, fmax := math.Inf(1), math.Inf(-1)
		for i := 0; i < s.DOut; i++ {
			for j := 0; j < s.DIn; j++ {
				if norm.Wbar.At(i, j) == 0 {
					continue
				}
				f := math.Pow(normC.Wbar.At(i, j)/norm.Wbar.At(i, j), 2)
				fmin, fmax = math.Min(fmin, f), math.Max(fmax, f)
			}
		}
		for _, name := range methodNames {
			a, err := prune(name, s.Pattern, acfg, l)
			if err != nil {
				rt.Fatalf("%s %s: %v", what, name, err)
			}
			b, err := prune(name, s.Pattern, acfg, lc)
			if err != nil {
				rt.Fatalf("%s %s: %v", what, name, err)
			}
			dL := math.Abs(b.ProxyLoss-a.ProxyLoss) / math.Max(a.ProxyLoss, 1e-300)
			switch name {
			case "magnitude", "wanda":
				if n := maskDiff(a.Mask, b.Mask); n != 0 {
					rt.Fatalf("%s %s: %d mask entries differ", what, name, n)
				}
			case "sparsegpt":
				if pow2 {
					if n := maskDiff(a.Mask, b.Mask); n != 0 {
						rt.Fatalf("%s sparsegpt: %d mask entries differ for a power-of-two scale", what, n)
					}
					if !mat.Equal(scaled(a.What, c), b.What) {
						rt.Fatalf("%s sparsegpt: Ŵ(cW) ≠ c·Ŵ(W) for a power-of-two scale", what)
					}
				}
				continue
			case "nowag":
				flips := float64(maskDiff(a.Mask, b.Mask)) / float64(s.DOut*s.DIn)
				cs.observe("nowagflips", flips)
				if big {
					cs.observe("nowagflipsBig", flips)
				}
				checkNoWagFlips(rt, cs, what, s, l, norm, normC, c, a.Mask, b.Mask)
			case "armor":
				cs.observe("armorL", dL)
				if big {
					cs.observe("armorLBig", dL)
				}
				continue
			}
			if maskDiff(a.Mask, b.Mask) == 0 && a.ProxyLoss > 0 {
				cs.observe("Lrel", dL)
				if big {
					cs.observe("LrelBig", dL)
				}
				allowed := fmax/fmin - 1 + 1e-12
				cs.observe("L", dL/allowed)
				if dL > allowed {
					rt.Fatalf("%s %s: proxy loss %.17g -> %.17g, beyond the spread of f (%.3g)", what, name, a.ProxyLoss, b.ProxyLoss, allowed)
				}
				dE := math.Abs(b.OutputError-a.OutputError) / math.Max(a.OutputError, 1e-300)
				cs.observe("E", dE)
				if dE > 1e-12 {
					rt.Fatalf("%s %s: output error %.17g -> %.17g", what, name, a.OutputError, b.OutputError)
				}
			}
		}
	})
}

// checkNoWagFlips asserts that every pair of columns whose order NoWag-P's
// mask swapped under scaling had scores within the bound the +1e-5 allows.
func checkNoWagFlips(t *rapid.T, cs *caseStats, what string, s layerSpec, l *methods.Layer, norm, normC *methods.Normalization, c float64, a, b *methods.Mask) {
	h, M := l.Stats.Hdiag, s.Pattern.M
	score := func(i, j int) float64 { w := norm.Wbar.At(i, j); return w * w * h[j] }
	for i := 0; i < s.DOut; i++ {
		for g := 0; g < s.DIn; g += M {
			for j := g; j < g+M; j++ {
				if !(a.At(i, j) && !b.At(i, j)) {
					continue
				}
				for k := g; k < g+M; k++ {
					if !(b.At(i, k) && !a.At(i, k)) {
						continue
					}
					kj, kk := c*norm.C[j]/normC.C[j], c*norm.C[k]/normC.C[k]
					gap := math.Abs(math.Log(score(i, j) / score(i, k)))
					allowed := 2*math.Abs(math.Log(kj/kk)) + 1e-12
					cs.observe("flip", gap/allowed)
					if gap > allowed {
						t.Fatalf("%s nowag: row %d columns %d/%d swapped with log score gap %.3g > %.3g", what, i, j, k, gap, allowed)
					}
				}
			}
		}
	}
}

// TestPropertyRowPermutationInvariance: permuting the calibration rows
// (tokens) changes the statistics only by summation order (1e-12 relative)
// and leaves every method's mask identical.
func TestPropertyRowPermutationInvariance(t *testing.T) {
	property(t, "6b permute calibration rows", []measure{
		{"stats", "max relative change of hdiag, wandanorm, H", 1e-12},
		{"mask", "mask entries changed (all methods)", 0},
		{"loss", "max ΔL/L (all methods)", math.NaN()},
	}, 100, func(rt *rapid.T, c *caseStats) {
		s, l := mustLayer(rt, 48, 64)
		rng := rand.New(rand.NewPCG(s.Seed, 0x7065726d))
		perm := rng.Perm(s.Tokens)
		X := l.X.(*mat.Dense)
		Xp := mat.NewDense(s.Tokens, s.DIn, nil)
		for t, p := range perm {
			Xp.SetRow(t, X.RawRowView(p))
		}
		st, err := methods.StatsFromActivations(Xp, true)
		if err != nil {
			rt.Fatal(err)
		}
		d := 0.0
		for j := range st.Hdiag {
			d = math.Max(d, relDiff(st.Hdiag[j], l.Stats.Hdiag[j]))
			d = math.Max(d, math.Abs(st.WandaNorm[j]-l.Stats.WandaNorm[j])/math.Max(l.Stats.WandaNorm[j], 1e-300))
		}
		d = math.Max(d, relFrob(st.H, l.Stats.H))
		c.observe("stats", d)
		if d > 1e-12 {
			rt.Fatalf("%v: statistics changed by %.3g relative", s, d)
		}
		lp := &methods.Layer{W: l.W, Stats: st, X: Xp}
		acfg := armorConfig(s, methods.ContinuousAdam, 10, 1)
		for _, name := range methodNames {
			a, err := prune(name, s.Pattern, acfg, l)
			if err != nil {
				rt.Fatal(err)
			}
			b, err := prune(name, s.Pattern, acfg, lp)
			if err != nil {
				rt.Fatal(err)
			}
			n := maskDiff(a.Mask, b.Mask)
			c.observe("mask", float64(n))
			c.observe("loss", math.Abs(a.ProxyLoss-b.ProxyLoss)/math.Max(a.ProxyLoss, 1e-300))
			if n != 0 {
				rt.Fatalf("%v %s: %d mask entries changed", s, name, n)
			}
		}
	})
}

// TestPropertyProxyLossEndpoints: L(W) = 0 (to rounding: W/(r·c) and
// (W/c)/r differ in the last bit) and L(0) = 1 exactly.
func TestPropertyProxyLossEndpoints(t *testing.T) {
	property(t, "6c L(W) = 0, L(0) = 1", []measure{
		{"LW", "L(W)", 1e-28},
		{"L0", "abs(L(0) − 1)", 0},
	}, 300, func(rt *rapid.T, c *caseStats) {
		s, l := mustLayer(rt, 48, 64)
		LW, err := methods.ProxyLoss(l.W, l.W, l.Stats.Hdiag)
		if err != nil {
			rt.Fatal(err)
		}
		L0, err := methods.ProxyLoss(l.W, mat.NewDense(s.DOut, s.DIn, nil), l.Stats.Hdiag)
		if err != nil {
			rt.Fatal(err)
		}
		c.observe("LW", LW)
		c.observe("L0", math.Abs(L0-1))
		if !(LW >= 0 && LW <= 1e-28) {
			rt.Fatalf("%v: L(W) = %g", s, LW)
		}
		if L0 != 1 {
			rt.Fatalf("%v: L(0) = %.17g", s, L0)
		}
	})
}
