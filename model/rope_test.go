package model

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPermuteForHalvesSmall(t *testing.T) {
	// One input column whose value is the row index makes the permutation
	// visible: 2 heads of size 4, rows (0 1 2 3 | 4 5 6 7).
	w := &Linear{Out: 8, In: 1, W: []float32{0, 1, 2, 3, 4, 5, 6, 7}}
	h, err := PermuteForHalves(w, 2, 4)
	require.NoError(t, err)
	// Pair (0,1) → rows (0,2), pair (2,3) → rows (1,3), per head.
	require.Equal(t, []float32{0, 2, 1, 3, 4, 6, 5, 7}, h.W)
	back, err := PermuteForInterleaved(h, 2, 4)
	require.NoError(t, err)
	require.Equal(t, w.W, back.W)
	require.Equal(t, []float32{0, 1, 2, 3, 4, 5, 6, 7}, w.W, "input unchanged")
}

func TestPermuteRoundTrip(t *testing.T) {
	cfg := smallConfig()
	w := randomWeights(t, cfg, true, 21)
	for _, tc := range []struct {
		name   string
		l      *Linear
		nHeads int
	}{
		{"wq", w.Layers[0].Wq, cfg.NHeads},
		{"wk", w.Layers[1].Wk, cfg.NKVHeads},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := PermuteForHalves(tc.l, tc.nHeads, cfg.HeadDim())
			require.NoError(t, err)
			require.NotEqual(t, tc.l.W, h.W)
			back, err := PermuteForInterleaved(h, tc.nHeads, cfg.HeadDim())
			require.NoError(t, err)
			require.Equal(t, tc.l.W, back.W)
			fwd, err := PermuteForHalves(back, tc.nHeads, cfg.HeadDim())
			require.NoError(t, err)
			require.Equal(t, h.W, fwd.W)
		})
	}
}

func TestPermuteRejectsBadShapes(t *testing.T) {
	for _, tc := range []struct {
		name            string
		w               *Linear
		nHeads, headDim int
		want            string
	}{
		{"nil", nil, 1, 2, "nil layer"},
		{"odd head", NewLinear(6, 2), 2, 3, "even head size"},
		{"rows mismatch", NewLinear(8, 2), 3, 2, "the layer has 8"},
		{"zero heads", NewLinear(8, 2), 0, 8, "positive heads"},
		{"short weights", &Linear{Out: 4, In: 2, W: make([]float32, 7)}, 1, 4, "has 7 weights"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PermuteForHalves(tc.w, tc.nHeads, tc.headDim)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRopeLayoutsGiveSameLogits(t *testing.T) {
	cfg := smallConfig() // interleaved, GQA
	w := randomWeights(t, cfg, false, 22)
	orig, err := New(cfg, w)
	require.NoError(t, err)
	hcfg, hw, err := ConvertRopeLayout(cfg, w, false)
	require.NoError(t, err)
	require.False(t, hcfg.RopeInterleaved)
	halves, err := New(hcfg, hw)
	require.NoError(t, err)
	toks := [][]int{randomTokens(cfg.SeqLen, cfg.VocabSize, 23), randomTokens(9, cfg.VocabSize, 24)}
	a, err := orig.Forward(toks)
	require.NoError(t, err)
	b, err := halves.Forward(toks)
	require.NoError(t, err)
	requireClose(t, a.Data, b.Data, 1e-5, "halves vs interleaved")

	// Without the permutation the layouts differ.
	plain := cfg
	plain.RopeInterleaved = false
	wrong, err := New(plain, w)
	require.NoError(t, err)
	c, err := wrong.Forward(toks)
	require.NoError(t, err)
	require.NotEqual(t, a.Data, c.Data)

	// Converting back restores the original weights exactly.
	icfg, iw, err := ConvertRopeLayout(hcfg, hw, true)
	require.NoError(t, err)
	require.True(t, icfg.RopeInterleaved)
	require.Equal(t, w, iw)
}

func TestRopeRotatesPairs(t *testing.T) {
	// A unit vector in pair 0 at position p rotates by angle p (frequency 1).
	cos, sin := ropeTable(3, 1, 4, 10000)
	for _, tc := range []struct {
		name        string
		interleaved bool
		want        func(c, s float32) []float32
	}{
		{"interleaved", true, func(c, s float32) []float32 { return []float32{c, s, 0, 0} }},
		{"halves", false, func(c, s float32) []float32 { return []float32{c, 0, s, 0} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := []float32{1, 0, 0, 0}
			applyRoPE(x, 1, 1, 4, cos, sin, tc.interleaved)
			requireClose(t, tc.want(float32(cos[0]), float32(sin[0])), x, 1e-7, "rotated")
			require.InDelta(t, -0.9899925, cos[0], 1e-6) // cos(3)
		})
	}
}
