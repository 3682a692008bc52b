package model

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseLinearName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		layer int
		proj  string
		err   string
	}{
		{"layers.0.q_proj", 0, ProjQ, ""},
		{"layers.12.down_proj", 12, ProjDown, ""},
		{"layers.3.gate_proj", 3, ProjGate, ""},
		{"layer.3.q_proj", 0, "", "want layers.<i>.<proj>"},
		{"layers.3", 0, "", "want layers.<i>.<proj>"},
		{"layers.x.q_proj", 0, "", "bad layer index"},
		{"layers.-1.q_proj", 0, "", "bad layer index"},
		{"layers.01.q_proj", 0, "", "bad layer index"},
		{"layers.1.w1", 0, "", "unknown projection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, p, err := ParseLinearName(tc.name)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.layer, l)
			require.Equal(t, tc.proj, p)
			require.Equal(t, tc.name, LinearName(l, p))
		})
	}
}

func TestLinearLookupAndReplace(t *testing.T) {
	cfg := smallConfig()
	w := randomWeights(t, cfg, true, 41)
	names := w.LinearNames()
	require.Len(t, names, cfg.NLayers*7)
	require.Equal(t, "layers.0.q_proj", names[0])
	require.Equal(t, "layers.1.down_proj", names[len(names)-1])

	for _, tc := range []struct {
		name    string
		field   *Linear
		out, in int
	}{
		{"layers.1.q_proj", w.Layers[1].Wq, cfg.Dim, cfg.Dim},
		{"layers.1.k_proj", w.Layers[1].Wk, cfg.KVDim(), cfg.Dim},
		{"layers.1.v_proj", w.Layers[1].Wv, cfg.KVDim(), cfg.Dim},
		{"layers.1.o_proj", w.Layers[1].Wo, cfg.Dim, cfg.Dim},
		{"layers.1.gate_proj", w.Layers[1].W1, cfg.HiddenDim, cfg.Dim},
		{"layers.1.up_proj", w.Layers[1].W3, cfg.HiddenDim, cfg.Dim},
		{"layers.1.down_proj", w.Layers[1].W2, cfg.Dim, cfg.HiddenDim},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := w.Linear(tc.name)
			require.NoError(t, err)
			require.Same(t, tc.field, l)
			require.Equal(t, [2]int{tc.out, tc.in}, [2]int{l.Out, l.In})
		})
	}

	m, err := New(cfg, w)
	require.NoError(t, err)
	before, err := m.Forward([][]int{{1, 2, 3}})
	require.NoError(t, err)
	zero := NewLinear(cfg.Dim, cfg.HiddenDim)
	require.NoError(t, m.Weights().SetLinear("layers.1.down_proj", zero))
	require.Same(t, zero, w.Layers[1].W2)
	after, err := m.Forward([][]int{{1, 2, 3}})
	require.NoError(t, err)
	require.NotEqual(t, before.Data, after.Data)

	require.ErrorContains(t, w.SetLinear("layers.1.down_proj", NewLinear(cfg.HiddenDim, cfg.Dim)), "does not match")
	require.ErrorContains(t, w.SetLinear("layers.9.q_proj", NewLinear(cfg.Dim, cfg.Dim)), "out of range")
	require.ErrorContains(t, w.SetLinear("layers.0.q_proj", nil), "nil layer")
}

func TestConfigValidate(t *testing.T) {
	good := smallConfig().WithDefaults()
	require.NoError(t, good.Validate())
	require.Equal(t, 1e-5, good.NormEps)
	require.Equal(t, 10000.0, good.RopeTheta)
	require.Equal(t, 8, good.HeadDim())
	require.Equal(t, 16, good.KVDim())
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"zero dim", func(c *Config) { c.Dim = 0 }, "dim must be positive"},
		{"negative vocab", func(c *Config) { c.VocabSize = -5 }, "vocab_size must be positive"},
		{"huge layers", func(c *Config) { c.NLayers = 1 << 30 }, "exceeds the limit"},
		{"dim not divisible", func(c *Config) { c.NHeads = 5 }, "not divisible by n_heads"},
		{"heads not divisible", func(c *Config) { c.NKVHeads = 3 }, "not divisible by n_kv_heads"},
		{"odd head size", func(c *Config) { c.Dim, c.NHeads, c.NKVHeads = 12, 4, 4 }, "must be even"},
		{"bad eps", func(c *Config) { c.NormEps = -1 }, "norm_eps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			require.ErrorContains(t, c.Validate(), tc.want)
			_, err := New(c, randomWeights(t, good, true, 1))
			require.Error(t, err)
		})
	}
}

func TestWeightsValidateAndClone(t *testing.T) {
	cfg := smallConfig().WithDefaults()
	w := randomWeights(t, cfg, false, 51)
	c := w.Clone()
	require.Equal(t, w, c)
	c.Layers[0].Wq.W[0] += 1
	require.NotEqual(t, w.Layers[0].Wq.W[0], c.Layers[0].Wq.W[0], "clone is deep")

	for _, tc := range []struct {
		name string
		mod  func(w *Weights)
		want string
	}{
		{"short embedding", func(w *Weights) { w.TokenEmbedding = w.TokenEmbedding[1:] }, "token_embedding"},
		{"missing layer", func(w *Weights) { w.Layers = w.Layers[:1] }, "1 layers, want 2"},
		{"nil wk", func(w *Weights) { w.Layers[1].Wk = nil }, "layers.1.k_proj is nil"},
		{"transposed w2", func(w *Weights) { w.Layers[0].W2 = NewLinear(cfg.HiddenDim, cfg.Dim) }, "layers.0.down_proj is 40×32, want 32×40"},
		{"bad norm", func(w *Weights) { w.Layers[0].FFNNorm = nil }, "layers.0.ffn_norm"},
		{"bad classifier", func(w *Weights) { w.Classifier = NewLinear(3, cfg.Dim) }, "classifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := w.Clone()
			tc.mod(b)
			require.ErrorContains(t, b.Validate(cfg), tc.want)
		})
	}
}
