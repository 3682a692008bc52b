package model

import (
	"errors"
	"fmt"
	"math"
)

// Default hyper-parameters of Llama 2 / llama2.c checkpoints.
const (
	// DefaultNormEps is the ε added to the mean square in RMSNorm.
	DefaultNormEps = 1e-5
	// DefaultRopeTheta is the RoPE base θ: pair i of a head of size d
	// rotates with frequency θ^(−2i/d).
	DefaultRopeTheta = 10000.0
)

// maxDim bounds every size in a Config so that products of sizes cannot
// overflow an int and absurd headers are rejected before allocating.
const maxDim = 1 << 24

// Config holds the architecture hyper-parameters of a Llama model.
type Config struct {
	Dim       int // model width d (embedding size)
	HiddenDim int // MLP hidden width (rows of W1 and W3)
	NLayers   int // number of decoder blocks
	NHeads    int // query heads; head size is Dim/NHeads
	NKVHeads  int // key/value heads (grouped-query attention when < NHeads)
	VocabSize int // number of tokens
	SeqLen    int // maximum context length (positions 0..SeqLen−1)

	// NormEps is the RMSNorm ε: y = g ⊙ x / sqrt(mean(x²) + ε).
	NormEps float64
	// RopeTheta is the RoPE base θ.
	RopeTheta float64
	// RopeInterleaved selects the RoPE pair layout inside each head of size
	// h: true rotates adjacent pairs (2i, 2i+1) (llama2.c, Meta's original
	// checkpoints); false rotates halves (i, i+h/2) (Hugging Face). Pair i
	// always uses angle pos·θ^(−2i/h).
	RopeInterleaved bool
	// RopeScaling, when non-nil, rescales the RoPE frequencies as Llama
	// 3.1 does (rope_scaling of type llama3).
	RopeScaling *RopeScaling
}

// HeadDim returns the size of one attention head, Dim/NHeads.
func (c Config) HeadDim() int {
	if c.NHeads <= 0 {
		return 0
	}
	return c.Dim / c.NHeads
}

// KVDim returns the width of the key and value projections,
// NKVHeads·HeadDim.
func (c Config) KVDim() int { return c.NKVHeads * c.HeadDim() }

// WithDefaults returns a copy of c in which a zero NormEps or RopeTheta is
// replaced by DefaultNormEps or DefaultRopeTheta.
func (c Config) WithDefaults() Config {
	if c.NormEps == 0 {
		c.NormEps = DefaultNormEps
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = DefaultRopeTheta
	}
	return c
}

// Validate checks that all sizes are positive and consistent: Dim divisible
// by NHeads, NHeads divisible by NKVHeads, an even head size (RoPE rotates
// pairs), and positive finite NormEps and RopeTheta.
func (c Config) Validate() error {
	sizes := []struct {
		name string
		v    int
	}{
		{"dim", c.Dim}, {"hidden_dim", c.HiddenDim}, {"n_layers", c.NLayers},
		{"n_heads", c.NHeads}, {"n_kv_heads", c.NKVHeads},
		{"vocab_size", c.VocabSize}, {"seq_len", c.SeqLen},
	}
	for _, s := range sizes {
		if s.v <= 0 {
			return fmt.Errorf("model config: %s must be positive, got %d", s.name, s.v)
		}
		if s.v > maxDim {
			return fmt.Errorf("model config: %s = %d exceeds the limit %d", s.name, s.v, maxDim)
		}
	}
	if c.Dim%c.NHeads != 0 {
		return fmt.Errorf("model config: dim %d is not divisible by n_heads %d", c.Dim, c.NHeads)
	}
	if c.NHeads%c.NKVHeads != 0 {
		return fmt.Errorf("model config: n_heads %d is not divisible by n_kv_heads %d", c.NHeads, c.NKVHeads)
	}
	if c.HeadDim()%2 != 0 {
		return fmt.Errorf("model config: head size %d (dim %d / n_heads %d) must be even for RoPE", c.HeadDim(), c.Dim, c.NHeads)
	}
	if !(c.NormEps > 0) || math.IsInf(c.NormEps, 0) {
		return fmt.Errorf("model config: norm_eps must be positive and finite, got %v", c.NormEps)
	}
	if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
		return fmt.Errorf("model config: rope_theta must be positive and finite, got %v", c.RopeTheta)
	}
	if c.RopeScaling != nil {
		if err := c.RopeScaling.Validate(); err != nil {
			return fmt.Errorf("model config: %w", err)
		}
	}
	return nil
}

// errNilModel is returned by methods called on a nil *Model.
var errNilModel = errors.New("model: nil model")
