package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// smallConfig is a tiny GQA configuration for synthetic tests.
func smallConfig() Config {
	return Config{Dim: 32, HiddenDim: 40, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 37, SeqLen: 24, RopeInterleaved: true}
}

// randomWeights fills weights for cfg with reproducible values of a scale
// that keeps activations O(1).
func randomWeights(t *testing.T, cfg Config, tied bool, seed uint64) *Weights {
	t.Helper()
	w, err := NewWeights(cfg, tied)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 7))
	fill := func(v []float32, scale float64) {
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
	}
	norm := func(v []float32) {
		for i := range v {
			v[i] = float32(1 + 0.2*rng.NormFloat64())
		}
	}
	fill(w.TokenEmbedding, 1)
	for i := range w.Layers {
		l := &w.Layers[i]
		norm(l.AttnNorm)
		norm(l.FFNNorm)
		for _, lin := range []*Linear{l.Wq, l.Wk, l.Wv, l.Wo, l.W1, l.W2, l.W3} {
			fill(lin.W, 1/math.Sqrt(float64(lin.In)))
		}
	}
	norm(w.FinalNorm)
	if !tied {
		fill(w.Classifier.W, 1/math.Sqrt(float64(cfg.Dim)))
	}
	return w
}

// randomTokens returns n reproducible token ids below vocab.
func randomTokens(n, vocab int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 11))
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(vocab)
	}
	return out
}

// requireClose asserts max|a−b| ≤ rel·max(1, max|a|).
func requireClose(t *testing.T, want, got []float32, rel float64, msg string) {
	t.Helper()
	require.Equal(t, len(want), len(got), msg)
	scale, diff := 1.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		diff = math.Max(diff, math.Abs(float64(want[i])-float64(got[i])))
	}
	require.LessOrEqualf(t, diff, rel*scale, "%s: max abs diff %g vs scale %g", msg, diff, scale)
}
