package theory

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/prunebench/armor/methods"
	"gonum.org/v1/gonum/mat"
	"pgregory.net/rapid"
)

// patterns are the N:M patterns the properties draw from.
var patterns = []methods.Pattern{{N: 2, M: 4}, {N: 1, M: 4}, {N: 3, M: 4}, {N: 4, M: 8}, {N: 2, M: 8}}

// layerSpec describes a random layer. The small integers are drawn by rapid
// (so a failure shrinks to the smallest shape, pattern and block size); the
// entries come from a PCG generator seeded by Seed, which keeps each case
// cheap to draw.
type layerSpec struct {
	DOut, DIn int
	Pattern   methods.Pattern
	// Block is ARMOR's block size: a multiple of M, often not dividing
	// DOut or DIn, so that the last block is smaller.
	Block int
	// Tokens is the number of calibration rows.
	Tokens int
	// Dof is the Student-t degrees of freedom of W's entries (heavy tails
	// for small values).
	Dof int
	// Outliers is the number of input channels whose activations are
	// scaled up by 10–50×; Dead is the number of channels that are
	// identically zero (their hdiag is replaced by the mean of the others).
	Outliers, Dead int
	Seed           uint64
}

func (s layerSpec) String() string {
	return fmt.Sprintf("%d×%d %s b=%d n=%d t(%d) outliers=%d dead=%d seed=%d",
		s.DOut, s.DIn, s.Pattern, s.Block, s.Tokens, s.Dof, s.Outliers, s.Dead, s.Seed)
}

// drawSpec draws a layer with d_out ≤ maxOut and d_in ≤ maxIn (d_in a
// multiple of M).
func drawSpec(t *rapid.T, maxOut, maxIn int) layerSpec {
	var s layerSpec
	s.Pattern = rapid.SampledFrom(patterns).Draw(t, "pattern")
	M := s.Pattern.M
	s.DIn = M * rapid.IntRange(1, max(1, maxIn/M)).Draw(t, "d_in/M")
	s.DOut = rapid.IntRange(1, maxOut).Draw(t, "d_out")
	s.Block = M * rapid.IntRange(1, max(1, 32/M)).Draw(t, "block/M")
	s.Tokens = rapid.IntRange(1, 4*s.DIn).Draw(t, "tokens")
	s.Dof = rapid.IntRange(1, 8).Draw(t, "dof")
	s.Outliers = rapid.IntRange(0, 3).Draw(t, "outliers")
	s.Dead = rapid.IntRange(0, 1).Draw(t, "dead")
	s.Seed = rapid.Uint64().Draw(t, "seed")
	return s
}

// studentT draws a Student-t variate with dof degrees of freedom.
func studentT(rng *rand.Rand, dof int) float64 {
	z := rng.NormFloat64()
	c := 0.0
	for k := 0; k < dof; k++ {
		g := rng.NormFloat64()
		c += float64(g * g)
	}
	return z / math.Sqrt(c/float64(dof))
}

// build materializes the layer: W with Student-t entries (scale 0.02),
// activations X (Tokens × DIn) with per-channel log-normal scales, a few
// outlier channels and possibly a dead one, and its statistics (with the full
// H, so that SparseGPT can run).
func (s layerSpec) build() (*methods.Layer, error) {
	rng := rand.New(rand.NewPCG(s.Seed, 0x7468656f7279))
	W := mat.NewDense(s.DOut, s.DIn, nil)
	for i := 0; i < s.DOut; i++ {
		for j := 0; j < s.DIn; j++ {
			W.Set(i, j, 0.02*studentT(rng, s.Dof))
		}
	}
	scale := make([]float64, s.DIn)
	for j := range scale {
		scale[j] = math.Exp(0.5 * rng.NormFloat64())
	}
	for k := 0; k < s.Outliers; k++ {
		scale[rng.IntN(s.DIn)] *= 10 + float64(40*rng.Float64())
	}
	if s.Dead > 0 && s.DIn > 1 {
		scale[rng.IntN(s.DIn)] = 0
	}
	X := s.activations(rng, scale)
	st, err := methods.StatsFromActivations(X, true)
	if err != nil {
		return nil, err
	}
	return &methods.Layer{W: W, Stats: st, X: X}, nil
}

func (s layerSpec) activations(rng *rand.Rand, scale []float64) *mat.Dense {
	X := mat.NewDense(s.Tokens, s.DIn, nil)
	for t := 0; t < s.Tokens; t++ {
		for j := 0; j < s.DIn; j++ {
			X.Set(t, j, rng.NormFloat64()*scale[j])
		}
	}
	return X
}

// mustLayer draws and builds a layer, failing the case on error.
func mustLayer(t *rapid.T, maxOut, maxIn int) (layerSpec, *methods.Layer) {
	s := drawSpec(t, maxOut, maxIn)
	l, err := s.build()
	if err != nil {
		t.Fatalf("%v: %v", s, err)
	}
	return s, l
}

// armorConfig returns ARMOR's defaults with the spec's block size, the given
// continuous rule and iterations, a single thread (the properties run one
// case at a time; results do not depend on the thread count) and a seed.
func armorConfig(s layerSpec, cont methods.Continuous, iters int, seed uint64) methods.ARMORConfig {
	cfg := methods.DefaultARMORConfig()
	cfg.BlockSize, cfg.Continuous, cfg.Iters, cfg.Seed, cfg.Threads = s.Block, cont, iters, seed, 1
	return cfg
}

// prune runs method name with pattern p (and ARMOR config a) on l.
func prune(name string, p methods.Pattern, a methods.ARMORConfig, l *methods.Layer) (*methods.Result, error) {
	cfg := methods.DefaultConfig()
	cfg.Pattern, cfg.ARMOR = p, a
	m, err := methods.New(name, cfg)
	if err != nil {
		return nil, err
	}
	return m.Prune(l)
}

// relFrob is ‖a − b‖_F / ‖b‖_F (‖a − b‖_F when b = 0).
func relFrob(a, b mat.Matrix) float64 {
	var d mat.Dense
	d.Sub(a, b)
	n := mat.Norm(b, 2)
	if n == 0 {
		return mat.Norm(&d, 2)
	}
	return mat.Norm(&d, 2) / n
}

// relDiff is |a − b| / max(|b|, tiny).
func relDiff(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(math.Abs(b), 1e-300)
}
