package model

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPerplexityOfUniformModelIsVocabSize(t *testing.T) {
	// All-zero weights give all-zero logits: every token has probability
	// 1/V, so the perplexity is exactly V whatever the stream.
	cfg := smallConfig()
	w, err := NewWeights(cfg, true)
	require.NoError(t, err)
	m, err := New(cfg, w)
	require.NoError(t, err)
	stream := randomTokens(50, cfg.VocabSize, 61)
	for _, tc := range []struct {
		name                      string
		L, maxWindows             int
		windows, tokens, predicts int
	}{
		{"all windows", 8, 0, 6, 48, 42},
		{"limited", 8, 2, 2, 16, 14},
		{"limit above count", 10, 99, 5, 50, 45},
		{"one window", 24, 1, 1, 24, 23},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := m.Perplexity(stream, tc.L, tc.maxWindows)
			require.NoError(t, err)
			require.Equal(t, tc.windows, r.Windows)
			require.Equal(t, tc.tokens, r.Tokens)
			require.Equal(t, tc.predicts, r.PredictedTokens)
			require.InDelta(t, float64(cfg.VocabSize), r.Perplexity, 1e-9)
			require.InDelta(t, float64(tc.predicts)*math.Log(float64(cfg.VocabSize)), r.TotalNLL, 1e-9)
		})
	}
	for _, tc := range []struct {
		name   string
		stream []int
		L      int
		want   string
	}{
		{"window too short", stream, 1, "window length"},
		{"window beyond context", stream, cfg.SeqLen + 1, "window length"},
		{"stream too short", stream[:5], 8, "shorter than one window"},
		{"bad token", []int{1, 2, 99, 4}, 4, "outside the vocabulary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Perplexity(tc.stream, tc.L, 0)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestPerplexityMatchesTokenNLL(t *testing.T) {
	cfg := smallConfig()
	m, err := New(cfg, randomWeights(t, cfg, false, 62))
	require.NoError(t, err)
	stream := randomTokens(40, cfg.VocabSize, 63)
	r, err := m.Perplexity(stream, 12, 0)
	require.NoError(t, err)
	require.Equal(t, 3, r.Windows)
	var total float64
	for w := 0; w < 3; w++ {
		win := stream[w*12 : (w+1)*12]
		logits, err := m.Forward([][]int{win})
		require.NoError(t, err)
		for p := 1; p < 12; p++ {
			nll, err := TokenNLL(logits.Row(0, p-1), win[p])
			require.NoError(t, err)
			total += nll
		}
	}
	require.InDelta(t, total, r.TotalNLL, 1e-9*total)
	require.InDelta(t, math.Exp(total/33), r.Perplexity, 1e-9*r.Perplexity)
	_, err = TokenNLL([]float32{1, 2}, 2)
	require.Error(t, err)
	nll, err := TokenNLL([]float32{0, float32(math.Log(3))}, 1)
	require.NoError(t, err)
	require.InDelta(t, math.Log(4.0/3.0), nll, 1e-7)
}
