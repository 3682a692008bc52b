package datasets

import (
	"fmt"
	"math"
	"strings"

	"github.com/prunebench/armor/model"
)

// llama2cHeaderBytes is the size of the legacy llama2.c header: 7 int32
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len).
const llama2cHeaderBytes = 7 * 4

// llama2cTensor is one tensor of a legacy llama2.c checkpoint: its name,
// a human-readable shape and its number of float32 values.
type llama2cTensor struct {
	name  string
	shape string
	n     int64
}

// llama2cLayout lists the tensors of a legacy llama2.c checkpoint in file
// order. Layer tensors are stacked over layers ([n_layers, …]); the
// freq_cis tables are precomputed RoPE cos/sin values that run.c ignores;
// wcls is present only when the classifier is not shared.
func llama2cLayout(cfg *model.Config, shared bool) ([]llama2cTensor, error) {
	L, d, h, v, s := int64(cfg.NLayers), int64(cfg.Dim), int64(cfg.HiddenDim), int64(cfg.VocabSize), int64(cfg.SeqLen)
	kv, half := int64(cfg.KVDim()), int64(cfg.HeadDim()/2)
	var overflow bool
	// n multiplies sizes, flagging products beyond 2^50 values (far more
	// than any file) so that absurd headers cannot overflow int64.
	n := func(xs ...int64) int64 {
		p := int64(1)
		for _, x := range xs {
			if x <= 0 || p > (1<<50)/x {
				overflow = true
				return 0
			}
			p *= x
		}
		return p
	}
	shape := func(xs ...int64) string { return strings.ReplaceAll(fmt.Sprint(xs), " ", ", ") }
	t := []llama2cTensor{
		{"token_embedding", shape(v, d), n(v, d)},
		{"rms_att", shape(L, d), n(L, d)},
		{"wq", shape(L, d, d), n(L, d, d)},
		{"wk", shape(L, kv, d), n(L, kv, d)},
		{"wv", shape(L, kv, d), n(L, kv, d)},
		{"wo", shape(L, d, d), n(L, d, d)},
		{"rms_ffn", shape(L, d), n(L, d)},
		{"w1", shape(L, h, d), n(L, h, d)},
		{"w2", shape(L, d, h), n(L, d, h)},
		{"w3", shape(L, h, d), n(L, h, d)},
		{"rms_final", shape(d), n(d)},
		{"freq_cis_real", shape(s, half), n(s, half)},
		{"freq_cis_imag", shape(s, half), n(s, half)},
	}
	if !shared {
		t = append(t, llama2cTensor{"wcls", shape(v, d), n(v, d)})
	}
	if overflow {
		return nil, fmt.Errorf("header describes a model too large to address")
	}
	return t, nil
}

// llama2cFreqCis returns the RoPE tables stored in legacy checkpoints, as
// llama2.c's export computes them in float32: for position p < seq_len and
// i < head_size/2, angle = p · (1 / θ^(2i/head_size)), real = cos(angle),
// imag = sin(angle).
func llama2cFreqCis(cfg *model.Config) (real, imag []float32) {
	hd := cfg.HeadDim()
	half := hd / 2
	real = make([]float32, cfg.SeqLen*half)
	imag = make([]float32, cfg.SeqLen*half)
	for i := 0; i < half; i++ {
		e := float32(2*i) / float32(hd)
		freq := float32(1) / float32(math.Pow(cfg.RopeTheta, float64(e)))
		for p := 0; p < cfg.SeqLen; p++ {
			a := float32(p) * freq
			real[p*half+i] = float32(math.Cos(float64(a)))
			imag[p*half+i] = float32(math.Sin(float64(a)))
		}
	}
	return real, imag
}
