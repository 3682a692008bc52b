package model

import "fmt"

// Session is an incremental (KV-cached) forward pass over one sequence:
// each Feed processes new tokens at the next positions, attending to the
// cached keys and values of all earlier ones. It gives the same logits as
// Forward on the whole sequence so far.
type Session struct {
	m      *Model
	caches []*kvCache // one per layer
	pos    int
}

// NewSession starts an empty session (position 0).
func (m *Model) NewSession() *Session {
	s := &Session{m: m}
	if m != nil {
		s.caches = make([]*kvCache, m.cfg.NLayers)
		for i := range s.caches {
			s.caches[i] = &kvCache{}
		}
	}
	return s
}

// Pos returns the number of tokens fed so far.
func (s *Session) Pos() int { return s.pos }

// Feed appends tokens to the sequence and returns the logits (VocabSize
// values) of the token that follows the last one. The total length may not
// exceed SeqLen.
func (s *Session) Feed(tokens []int) ([]float32, error) {
	if s == nil {
		return nil, fmt.Errorf("session: nil")
	}
	m := s.m
	if err := m.check(); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("session: no tokens to feed")
	}
	if s.pos+len(tokens) > m.cfg.SeqLen {
		return nil, fmt.Errorf("session: %d + %d tokens exceed the context length %d", s.pos, len(tokens), m.cfg.SeqLen)
	}
	h, err := m.Embed([][]int{tokens})
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	for i := 0; i < m.cfg.NLayers; i++ {
		h = m.block(i, h, []*kvCache{s.caches[i]}, nil)
	}
	s.pos += len(tokens)
	last := &Batch{Lens: []int{1}, Width: m.cfg.Dim, Data: h.Row(0, len(tokens)-1)}
	logits, err := m.Logits(last)
	if err != nil {
		return nil, err
	}
	return logits.Data, nil
}

// Generate greedily extends prompt (non-empty) by up to n tokens, each the
// argmax of the logits (the lowest id on ties), and returns only the new
// tokens. It stops early when the context length SeqLen is reached.
func (m *Model) Generate(prompt []int, n int) ([]int, error) {
	if n < 0 {
		return nil, fmt.Errorf("generate: negative token count %d", n)
	}
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate: empty prompt")
	}
	if n == 0 {
		return []int{}, nil
	}
	s := m.NewSession()
	logits, err := s.Feed(prompt)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	out := make([]int, 0, n)
	for {
		next := argmax(logits)
		out = append(out, next)
		if len(out) == n || s.Pos() >= m.cfg.SeqLen {
			return out, nil
		}
		if logits, err = s.Feed([]int{next}); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
	}
}
