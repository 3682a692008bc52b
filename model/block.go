package model

import "fmt"

// Observer receives the input activations of a linear layer during a
// forward pass: x holds rows × cols values (row-major, rows = tokens of all
// sequences of the batch in order, cols = the layer's d_in). x belongs to the
// model and is only valid during the call; the observer must not modify it
// and must copy what it keeps. Layers that share an input are still reported
// once per name, with the same slice: q_proj, k_proj and v_proj receive
// RMSNorm(x; AttnNorm), gate_proj and up_proj receive RMSNorm(h; FFNNorm).
// o_proj receives the concatenated attention heads and down_proj receives
// silu(W1 m) ⊙ (W3 m).
type Observer func(name string, x []float32, rows, cols int)

// Embed returns the hidden states of a batch of token sequences: row t of
// sequence b is TokenEmbedding[tokens[b][t]].
func (m *Model) Embed(tokens [][]int) (*Batch, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	lens := make([]int, len(tokens))
	for b, seq := range tokens {
		lens[b] = len(seq)
		for t, tok := range seq {
			if tok < 0 || tok >= m.cfg.VocabSize {
				return nil, fmt.Errorf("embed: sequence %d position %d: token %d outside the vocabulary [0, %d)", b, t, tok, m.cfg.VocabSize)
			}
		}
	}
	h := NewBatch(lens, m.cfg.Dim)
	if err := h.validate(m.cfg.Dim, m.cfg.SeqLen); err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	d := m.cfg.Dim
	emb := m.w.Embedding()
	r := 0
	for _, seq := range tokens {
		for _, tok := range seq {
			emb.RowsFloat32(h.Data[r*d:(r+1)*d], tok, tok+1)
			r++
		}
	}
	return h, nil
}

// Block applies decoder block i to the hidden states h (each sequence
// starting at position 0) and returns the new hidden states; h is not
// modified. obs may be nil.
func (m *Model) Block(i int, h *Batch, obs Observer) (*Batch, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if i < 0 || i >= m.cfg.NLayers {
		return nil, fmt.Errorf("block %d: out of range [0, %d)", i, m.cfg.NLayers)
	}
	if err := h.validate(m.cfg.Dim, m.cfg.SeqLen); err != nil {
		return nil, fmt.Errorf("block %d: %w", i, err)
	}
	return m.block(i, h, nil, obs), nil
}

// block computes, for every row x of h,
//
//	h' = x + Wo·Attn(n),  n = RMSNorm(x; AttnNorm)
//	y  = h' + W2·(silu(W1·m) ⊙ W3·m),  m = RMSNorm(h'; FFNNorm).
//
// If caches is non-nil, caches[b] holds the earlier positions of sequence b:
// its rows start at position caches[b].n and their keys and values are
// appended to the cache. Inputs are assumed valid.
func (m *Model) block(i int, h *Batch, caches []*kvCache, obs Observer) *Batch {
	cfg := m.cfg
	L := &m.w.Layers[i]
	d, kvDim, hd := cfg.Dim, cfg.KVDim(), cfg.HeadDim()
	rows := h.Rows()
	observe := func(p string, x []float32, cols int) {
		if obs != nil {
			obs(LinearName(i, p), x, rows, cols)
		}
	}

	// Attention.
	xn := make([]float32, rows*d)
	rmsNorm(xn, h.Data, L.AttnNorm, rows, cfg.NormEps)
	observe(ProjQ, xn, d)
	observe(ProjK, xn, d)
	observe(ProjV, xn, d)
	q := make([]float32, rows*d)
	k := make([]float32, rows*kvDim)
	v := make([]float32, rows*kvDim)
	L.Wq.apply(xn, rows, q)
	L.Wk.apply(xn, rows, k)
	L.Wv.apply(xn, rows, v)
	att := make([]float32, rows*d)
	jobs := make([]attnJob, len(h.Lens))
	r0 := 0
	for b, n := range h.Lens {
		qb := q[r0*d : (r0+n)*d]
		kb := k[r0*kvDim : (r0+n)*kvDim]
		vb := v[r0*kvDim : (r0+n)*kvDim]
		start := 0
		if caches != nil {
			start = caches[b].n
		}
		cos, sin := ropeTableScaled(start, n, hd, cfg.RopeTheta, cfg.RopeScaling)
		applyRoPE(qb, n, cfg.NHeads, hd, cos, sin, cfg.RopeInterleaved)
		applyRoPE(kb, n, cfg.NKVHeads, hd, cos, sin, cfg.RopeInterleaved)
		if caches != nil {
			c := caches[b]
			c.k = append(c.k[:c.n*kvDim], kb...)
			c.v = append(c.v[:c.n*kvDim], vb...)
			c.n += n
			kb, vb = c.k, c.v
		}
		jobs[b] = attnJob{q: qb, k: kb, v: vb, out: att[r0*d : (r0+n)*d], n: n, start: start}
		r0 += n
	}
	attend(cfg, jobs)
	observe(ProjO, att, d)
	out := h.Clone()
	o := xn // reuse: xn is no longer needed
	L.Wo.apply(att, rows, o)
	addInPlace(out.Data, o)

	// SwiGLU MLP.
	mn := make([]float32, rows*d)
	rmsNorm(mn, out.Data, L.FFNNorm, rows, cfg.NormEps)
	observe(ProjGate, mn, d)
	observe(ProjUp, mn, d)
	gate := make([]float32, rows*cfg.HiddenDim)
	up := make([]float32, rows*cfg.HiddenDim)
	L.W1.apply(mn, rows, gate)
	L.W3.apply(mn, rows, up)
	swiGLU(gate, up)
	observe(ProjDown, gate, cfg.HiddenDim)
	L.W2.apply(gate, rows, mn)
	addInPlace(out.Data, mn)
	return out
}

// FinalNorm returns RMSNorm(h; FinalNorm) for every row of h.
func (m *Model) FinalNorm(h *Batch) (*Batch, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if err := h.validate(m.cfg.Dim, m.cfg.SeqLen); err != nil {
		return nil, fmt.Errorf("final norm: %w", err)
	}
	out := NewBatch(h.Lens, m.cfg.Dim)
	rmsNorm(out.Data, h.Data, m.w.FinalNorm, h.Rows(), m.cfg.NormEps)
	return out, nil
}

// Logits returns the logits Wcls · RMSNorm(x; FinalNorm) of every row x of
// the last block's output h (Width = VocabSize). Wcls is Classifier, or
// TokenEmbedding when tied.
func (m *Model) Logits(h *Batch) (*Batch, error) {
	n, err := m.FinalNorm(h)
	if err != nil {
		return nil, err
	}
	out := NewBatch(h.Lens, m.cfg.VocabSize)
	m.classifier().apply(n.Data, n.Rows(), out.Data)
	return out, nil
}

// classifier returns the output projection (the embedding when tied).
func (m *Model) classifier() *Linear {
	if m.w.Classifier != nil {
		return m.w.Classifier
	}
	return m.w.Embedding()
}
