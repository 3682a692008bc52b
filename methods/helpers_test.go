package methods

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomLayer builds a synthetic layer like the reference fixtures: W with
// heavy (Student-t like) tails and activations with a few outlier channels.
func randomLayer(t testing.TB, dOut, dIn, n int, seed uint64) *Layer {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	W := mat.NewDense(dOut, dIn, nil)
	for i := 0; i < dOut; i++ {
		for j := 0; j < dIn; j++ {
			// Normal divided by the root of a chi-square-ish: heavy tails.
			z := rng.NormFloat64()
			c := 0.0
			for k := 0; k < 4; k++ {
				g := rng.NormFloat64()
				c += float64(g * g)
			}
			W.Set(i, j, 0.02*z/math.Sqrt(c/4))
		}
	}
	scale := make([]float64, dIn)
	for j := range scale {
		scale[j] = math.Exp(0.3 * rng.NormFloat64())
	}
	for k := 0; k < max(2, dIn/50); k++ {
		scale[rng.IntN(dIn)] *= 10 + float64(40*rng.Float64())
	}
	X := mat.NewDense(n, dIn, nil)
	for t := 0; t < n; t++ {
		for j := 0; j < dIn; j++ {
			X.Set(t, j, rng.NormFloat64()*scale[j])
		}
	}
	st, err := StatsFromActivations(X, true)
	if err != nil {
		t.Fatal(err)
	}
	return &Layer{W: W, Stats: st, X: X}
}

// TestTopNMaskFastPathMatchesGeneral compares the 2:4 fast path with the
// general selection on scores with many ties.
func TestTopNMaskFastPathMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	rows, cols := 50, 64
	score := make([]float64, rows*cols)
	for k := range score {
		score[k] = float64(rng.IntN(4)) // plenty of ties
	}
	fast, err := TopNMask(score, rows, cols, Pattern24)
	if err != nil {
		t.Fatal(err)
	}
	slow := generalTopN(score, rows, cols, Pattern24)
	for k := range slow {
		if slow[k] != fast.Keep[k] {
			t.Fatalf("entry %d: fast path %v, general %v (scores %v)", k, fast.Keep[k], slow[k], score[k/4*4:k/4*4+4])
		}
	}
}

// generalTopN is an independent reference: sort each group's indices by
// (score descending, index ascending) and keep the first N.
func generalTopN(score []float64, rows, cols int, p Pattern) []bool {
	keep := make([]bool, len(score))
	for g := 0; g < rows*cols; g += p.M {
		idx := []int{}
		for k := 0; k < p.M; k++ {
			idx = append(idx, k)
		}
		sort.SliceStable(idx, func(a, b int) bool { return score[g+idx[a]] > score[g+idx[b]] })
		for _, k := range idx[:p.N] {
			keep[g+k] = true
		}
	}
	return keep
}
