package model

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestForwardMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name        string
		tied        bool
		interleaved bool
		kvHeads     int
		seqLen      int
	}{
		{"tied-interleaved-gqa", true, true, 2, 24},
		{"untied-halves-gqa", false, false, 2, 24},
		{"untied-interleaved-mha", false, true, 4, 24},
		{"tied-halves-mqa", true, false, 1, 24},
		// Longer than attnChunk: several query chunks per head.
		{"chunked-attention", false, true, 2, 2*attnChunk + 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallConfig()
			cfg.RopeInterleaved = tc.interleaved
			cfg.NKVHeads = tc.kvHeads
			cfg.SeqLen = tc.seqLen
			m, err := New(cfg, randomWeights(t, cfg, tc.tied, 1))
			require.NoError(t, err)
			toks := randomTokens(cfg.SeqLen, cfg.VocabSize, 2)
			logits, err := m.Forward([][]int{toks})
			require.NoError(t, err)
			ref := referenceForward(m.Config(), m.Weights(), toks)
			for p := range toks {
				want := make([]float32, cfg.VocabSize)
				for i, v := range ref[p] {
					want[i] = float32(v)
				}
				requireClose(t, want, logits.Row(0, p), 1e-4, fmt.Sprintf("position %d", p))
			}
		})
	}
}

func TestBatchedEqualsSingle(t *testing.T) {
	cfg := smallConfig()
	m, err := New(cfg, randomWeights(t, cfg, false, 3))
	require.NoError(t, err)
	seqs := [][]int{
		randomTokens(24, cfg.VocabSize, 4),
		randomTokens(5, cfg.VocabSize, 5),
		randomTokens(1, cfg.VocabSize, 6),
		randomTokens(17, cfg.VocabSize, 7),
	}
	batched, err := m.Forward(seqs)
	require.NoError(t, err)
	require.Equal(t, []int{24, 5, 1, 17}, batched.Lens)
	for b, s := range seqs {
		single, err := m.Forward([][]int{s})
		require.NoError(t, err)
		requireClose(t, single.Data, batched.Seq(b), 1e-6, fmt.Sprintf("sequence %d", b))
	}
}

func TestBlocksComposeToForward(t *testing.T) {
	cfg := smallConfig()
	m, err := New(cfg, randomWeights(t, cfg, true, 8))
	require.NoError(t, err)
	seqs := [][]int{randomTokens(12, cfg.VocabSize, 9), randomTokens(7, cfg.VocabSize, 10)}
	want, err := m.Forward(seqs)
	require.NoError(t, err)

	h, err := m.Embed(seqs)
	require.NoError(t, err)
	for i := 0; i < cfg.NLayers; i++ {
		before := h.Clone()
		next, err := m.Block(i, h, nil)
		require.NoError(t, err)
		require.Equal(t, before.Data, h.Data, "Block must not modify its input")
		h = next
	}
	got, err := m.Logits(h)
	require.NoError(t, err)
	require.Equal(t, want.Data, got.Data)
}

func TestSessionMatchesForward(t *testing.T) {
	cfg := smallConfig()
	cfg.SeqLen = 200
	m, err := New(cfg, randomWeights(t, cfg, false, 12))
	require.NoError(t, err)
	toks := randomTokens(cfg.SeqLen, cfg.VocabSize, 13)
	full, err := m.Forward([][]int{toks})
	require.NoError(t, err)
	s := m.NewSession()
	// Prefill 5 tokens, then feed chunks of varying size.
	pos := 0
	for _, n := range []int{5, 1, 1, 3, 1, 13, 70, 1, 105} {
		logits, err := s.Feed(toks[pos : pos+n])
		require.NoError(t, err)
		pos += n
		requireClose(t, full.Row(0, pos-1), logits, 1e-5, fmt.Sprintf("after %d tokens", pos))
	}
	require.Equal(t, cfg.SeqLen, s.Pos())
	_, err = s.Feed([]int{0})
	require.ErrorContains(t, err, "context length")
}

func TestGenerateIsGreedy(t *testing.T) {
	cfg := smallConfig()
	m, err := New(cfg, randomWeights(t, cfg, true, 14))
	require.NoError(t, err)
	prompt := randomTokens(3, cfg.VocabSize, 15)
	gen, err := m.Generate(prompt, 6)
	require.NoError(t, err)
	require.Len(t, gen, 6)
	seq := append([]int(nil), prompt...)
	for _, g := range gen {
		logits, err := m.Forward([][]int{seq})
		require.NoError(t, err)
		require.Equal(t, argmax(logits.Row(0, len(seq)-1)), g)
		seq = append(seq, g)
	}
	// The context length caps generation.
	long, err := m.Generate(prompt, 100)
	require.NoError(t, err)
	require.Len(t, long, cfg.SeqLen-len(prompt)+1)
	_, err = m.Generate(nil, 3)
	require.Error(t, err)
}

func TestForwardRejectsBadInput(t *testing.T) {
	cfg := smallConfig()
	m, err := New(cfg, randomWeights(t, cfg, true, 16))
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		tokens [][]int
		want   string
	}{
		{"no sequences", nil, "no sequences"},
		{"empty sequence", [][]int{{1, 2}, {}}, "sequence 1 has length 0"},
		{"negative token", [][]int{{1, -1}}, "token -1 outside"},
		{"token too large", [][]int{{cfg.VocabSize}}, "outside the vocabulary"},
		{"too long", [][]int{make([]int, cfg.SeqLen+1)}, "context length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Forward(tc.tokens)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// Weights broken after New are caught, not panicked on.
	m.Weights().Layers[1].Wv.W = m.Weights().Layers[1].Wv.W[:3]
	_, err = m.Forward([][]int{{1}})
	require.ErrorContains(t, err, "layers.1.v_proj")
	var nilModel *Model
	_, err = nilModel.Forward([][]int{{1}})
	require.Error(t, err)
}
