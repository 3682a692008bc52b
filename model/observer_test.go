package model

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestObserverSeesEveryLinearInput(t *testing.T) {
	cfg := smallConfig()
	m, err := New(cfg, randomWeights(t, cfg, true, 31))
	require.NoError(t, err)
	seqs := [][]int{randomTokens(6, cfg.VocabSize, 32), randomTokens(4, cfg.VocabSize, 33)}
	type call struct {
		name       string
		rows, cols int
		x          []float32
	}
	var calls []call
	obs := func(name string, x []float32, rows, cols int) {
		calls = append(calls, call{name, rows, cols, append([]float32(nil), x...)})
	}
	withObs, err := m.ForwardObserved(seqs, obs)
	require.NoError(t, err)
	plain, err := m.Forward(seqs)
	require.NoError(t, err)
	require.Equal(t, plain.Data, withObs.Data)

	names := m.Weights().LinearNames()
	require.Len(t, calls, len(names))
	for i, c := range calls {
		require.Equal(t, names[i], c.name)
		l, err := m.Weights().Linear(c.name)
		require.NoError(t, err)
		require.Equal(t, 10, c.rows)
		require.Equal(t, l.In, c.cols, c.name)
		require.Len(t, c.x, c.rows*c.cols)
	}
	// Shared inputs are reported with identical data.
	byName := map[string][]float32{}
	for _, c := range calls {
		byName[c.name] = c.x
	}
	require.Equal(t, byName["layers.1.q_proj"], byName["layers.1.v_proj"])
	require.Equal(t, byName["layers.0.gate_proj"], byName["layers.0.up_proj"])

	// The q_proj input of layer 0 is RMSNorm(embedding; AttnNorm).
	h, err := m.Embed(seqs)
	require.NoError(t, err)
	want := make([]float32, len(h.Data))
	rmsNorm(want, h.Data, m.Weights().Layers[0].AttnNorm, h.Rows(), m.Config().NormEps)
	require.Equal(t, want, byName["layers.0.q_proj"])

	// The observed o_proj and down_proj inputs reproduce block 0:
	// out = x + Wo·att + W2·mlp.
	out, err := m.Block(0, h, nil)
	require.NoError(t, err)
	w0 := m.Weights().Layers[0]
	attn, err := w0.Wo.Apply(byName["layers.0.o_proj"], h.Rows())
	require.NoError(t, err)
	mlp, err := w0.W2.Apply(byName["layers.0.down_proj"], h.Rows())
	require.NoError(t, err)
	sum := append([]float32(nil), h.Data...)
	addInPlace(sum, attn)
	addInPlace(sum, mlp)
	requireClose(t, out.Data, sum, 1e-6, "block 0 from observed inputs")
}
