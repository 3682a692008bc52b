package model

import "fmt"

// Model is a Llama decoder with its configuration and weights. Its methods
// do not modify the weights and may run concurrently; replacing weights
// (Weights().SetLinear) while a forward pass runs is a data race.
type Model struct {
	cfg Config
	w   *Weights
}

// New returns a model for cfg (zero NormEps/RopeTheta take their defaults)
// and w, after checking every tensor's shape. w is used, not copied.
func New(cfg Config, w *Weights) (*Model, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := w.Validate(cfg); err != nil {
		return nil, err
	}
	return &Model{cfg: cfg, w: w}, nil
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Weights returns the model's weights (not a copy): replacing a linear layer
// through it changes the model.
func (m *Model) Weights() *Weights { return m.w }

// check re-validates the weights (cheap: shapes only), since callers may
// have replaced tensors since New.
func (m *Model) check() error {
	if m == nil || m.w == nil {
		return errNilModel
	}
	return m.w.Validate(m.cfg)
}

// Forward runs the full causal forward pass on a batch of token sequences
// (each of length 1..SeqLen, positions starting at 0; lengths may differ) and
// returns the logits: row t of sequence b holds the scores of the token at
// position t+1 given tokens[b][0..t].
func (m *Model) Forward(tokens [][]int) (*Batch, error) {
	return m.ForwardObserved(tokens, nil)
}

// ForwardObserved is Forward that also reports the input of every linear
// layer to obs (see Observer); obs may be nil.
func (m *Model) ForwardObserved(tokens [][]int, obs Observer) (*Batch, error) {
	h, err := m.Embed(tokens)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	for i := 0; i < m.cfg.NLayers; i++ {
		h = m.block(i, h, nil, obs)
	}
	return m.Logits(h)
}
