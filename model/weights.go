package model

import "fmt"

// Layer holds the parameters of one decoder block. With x the block input
// (one row per token):
//
//	h   = x + Wo · Attn(RoPE(Wq·n), RoPE(Wk·n), Wv·n),  n = RMSNorm(x; AttnNorm)
//	out = h + W2 · (silu(W1·m) ⊙ (W3·m)),                m = RMSNorm(h; FFNNorm)
type Layer struct {
	AttnNorm []float32 // RMSNorm gain before attention, [Dim]
	Wq       *Linear   // query projection, Dim × Dim (q_proj)
	Wk       *Linear   // key projection, KVDim × Dim (k_proj)
	Wv       *Linear   // value projection, KVDim × Dim (v_proj)
	Wo       *Linear   // attention output projection, Dim × Dim (o_proj)
	FFNNorm  []float32 // RMSNorm gain before the MLP, [Dim]
	W1       *Linear   // MLP gate projection, HiddenDim × Dim (gate_proj)
	W2       *Linear   // MLP down projection, Dim × HiddenDim (down_proj)
	W3       *Linear   // MLP up projection, HiddenDim × Dim (up_proj)
}

// Weights holds all parameters of a model, mirroring llama2.c's
// TransformerWeights.
type Weights struct {
	// TokenEmbedding is the VocabSize × Dim embedding table (row t is the
	// embedding of token t).
	TokenEmbedding []float32
	// TokenEmbeddingHalf, when non-nil, holds the embedding table in 16-bit
	// storage (a VocabSize × Dim Linear with Half set) instead, and
	// TokenEmbedding is nil: a large vocabulary then costs no float32
	// copy. Embedding returns the table in either form.
	TokenEmbeddingHalf *Linear
	// Layers are the NLayers decoder blocks.
	Layers []Layer
	// FinalNorm is the RMSNorm gain applied before the classifier, [Dim].
	FinalNorm []float32
	// Classifier maps the final hidden state to logits (VocabSize × Dim).
	// nil means tied: the classifier is TokenEmbedding.
	Classifier *Linear
}

// NewWeights returns zero-filled weights with the shapes of cfg (norm gains
// set to 1). If tied is false an untied zero Classifier is allocated.
func NewWeights(cfg Config, tied bool) (*Weights, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	w := &Weights{
		TokenEmbedding: make([]float32, cfg.VocabSize*cfg.Dim),
		Layers:         make([]Layer, cfg.NLayers),
		FinalNorm:      ones(cfg.Dim),
	}
	for i := range w.Layers {
		w.Layers[i] = Layer{
			AttnNorm: ones(cfg.Dim),
			Wq:       NewLinear(cfg.Dim, cfg.Dim),
			Wk:       NewLinear(cfg.KVDim(), cfg.Dim),
			Wv:       NewLinear(cfg.KVDim(), cfg.Dim),
			Wo:       NewLinear(cfg.Dim, cfg.Dim),
			FFNNorm:  ones(cfg.Dim),
			W1:       NewLinear(cfg.HiddenDim, cfg.Dim),
			W2:       NewLinear(cfg.Dim, cfg.HiddenDim),
			W3:       NewLinear(cfg.HiddenDim, cfg.Dim),
		}
	}
	if !tied {
		w.Classifier = NewLinear(cfg.VocabSize, cfg.Dim)
	}
	return w, nil
}

// Embedding returns the token embedding table as a VocabSize × Dim
// linear layer (a view of TokenEmbedding, or TokenEmbeddingHalf): row t
// is the embedding of token t, and the tied classifier applies it.
func (w *Weights) Embedding() *Linear {
	if w.TokenEmbedding == nil && w.TokenEmbeddingHalf != nil {
		return w.TokenEmbeddingHalf
	}
	d := len(w.FinalNorm) // the model width
	if d == 0 {
		return &Linear{W: w.TokenEmbedding}
	}
	return &Linear{Out: len(w.TokenEmbedding) / d, In: d, W: w.TokenEmbedding}
}

// Tied reports whether the classifier shares the token embedding.
func (w *Weights) Tied() bool { return w.Classifier == nil }

// Validate checks every tensor's shape against cfg.
func (w *Weights) Validate(cfg Config) error {
	if w == nil {
		return fmt.Errorf("model weights: nil")
	}
	checkVec := func(name string, v []float32, n int) error {
		if len(v) != n {
			return fmt.Errorf("model weights: %s has %d values, want %d", name, len(v), n)
		}
		return nil
	}
	checkLin := func(name string, l *Linear, out, in int) error {
		if l == nil {
			return fmt.Errorf("model weights: %s is nil", name)
		}
		if l.Out != out || l.In != in {
			return fmt.Errorf("model weights: %s is %d×%d, want %d×%d", name, l.Out, l.In, out, in)
		}
		if err := l.Validate(); err != nil {
			return fmt.Errorf("model weights: %s: %w", name, err)
		}
		return nil
	}
	if w.TokenEmbedding == nil && w.TokenEmbeddingHalf != nil {
		if err := checkLin("token_embedding", w.TokenEmbeddingHalf, cfg.VocabSize, cfg.Dim); err != nil {
			return err
		}
	} else if err := checkVec("token_embedding", w.TokenEmbedding, cfg.VocabSize*cfg.Dim); err != nil {
		return err
	}
	if len(w.Layers) != cfg.NLayers {
		return fmt.Errorf("model weights: %d layers, want %d", len(w.Layers), cfg.NLayers)
	}
	d, kv, hid := cfg.Dim, cfg.KVDim(), cfg.HiddenDim
	for i := range w.Layers {
		l := &w.Layers[i]
		if err := checkVec(fmt.Sprintf("layers.%d.attn_norm", i), l.AttnNorm, d); err != nil {
			return err
		}
		if err := checkVec(fmt.Sprintf("layers.%d.ffn_norm", i), l.FFNNorm, d); err != nil {
			return err
		}
		shapes := map[string][2]int{
			ProjQ: {d, d}, ProjK: {kv, d}, ProjV: {kv, d}, ProjO: {d, d},
			ProjGate: {hid, d}, ProjUp: {hid, d}, ProjDown: {d, hid},
		}
		for _, p := range Projections {
			s := shapes[p]
			if err := checkLin(LinearName(i, p), *l.slot(p), s[0], s[1]); err != nil {
				return err
			}
		}
	}
	if err := checkVec("final_norm", w.FinalNorm, d); err != nil {
		return err
	}
	if w.Classifier != nil {
		if err := checkLin("classifier", w.Classifier, cfg.VocabSize, d); err != nil {
			return err
		}
	}
	return nil
}

// Clone returns a deep copy of w.
func (w *Weights) Clone() *Weights {
	if w == nil {
		return nil
	}
	cp := func(v []float32) []float32 { return append([]float32(nil), v...) }
	c := &Weights{
		TokenEmbedding:     cp(w.TokenEmbedding),
		TokenEmbeddingHalf: w.TokenEmbeddingHalf.Clone(),
		Layers:             make([]Layer, len(w.Layers)),
		FinalNorm:          cp(w.FinalNorm),
		Classifier:         w.Classifier.Clone(),
	}
	for i, l := range w.Layers {
		c.Layers[i] = Layer{
			AttnNorm: cp(l.AttnNorm), Wq: l.Wq.Clone(), Wk: l.Wk.Clone(), Wv: l.Wv.Clone(), Wo: l.Wo.Clone(),
			FFNNorm: cp(l.FFNNorm), W1: l.W1.Clone(), W2: l.W2.Clone(), W3: l.W3.Clone(),
		}
	}
	return c
}
