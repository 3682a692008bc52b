// Package tokenizer implements the Llama SentencePiece-BPE tokenizer as used
// by llama2.c: a vocabulary of pieces with merge scores, byte-fallback
// tokens <0xXX> at id byte+3, BOS = 1 and EOS = 2. It reads the llama2.c
// tokenizer.bin format from an io.Reader; opening files is left to callers.
package tokenizer

import (
	"fmt"
	"math"
)

// Special token ids of Llama tokenizers.
const (
	UNK = 0 // unknown token <unk>
	BOS = 1 // beginning of sequence <s>
	EOS = 2 // end of sequence </s>
)

// byteOffset is the id of the byte-fallback token <0x00>; byte b is token
// b+byteOffset.
const byteOffset = 3

// Tokenizer maps text to token ids and back. It is immutable after
// construction and safe for concurrent use.
type Tokenizer struct {
	pieces    []string
	scores    []float32
	ids       map[string]int // piece → lowest id with that piece
	maxPieceL int            // longest piece, in bytes
}

// New returns a tokenizer with the given pieces and merge scores (one per
// token id). It requires at least the 3 special tokens and the 256
// byte-fallback tokens: id b+3 must be the piece "<0xXX>" of byte b = 0xXX.
// Scores must be finite and pieces non-empty.
func New(pieces []string, scores []float32) (*Tokenizer, error) {
	if len(pieces) != len(scores) {
		return nil, fmt.Errorf("tokenizer: %d pieces but %d scores", len(pieces), len(scores))
	}
	if len(pieces) < byteOffset+256 {
		return nil, fmt.Errorf("tokenizer: vocabulary of %d tokens is too small: byte fallback needs ids up to %d", len(pieces), byteOffset+255)
	}
	t := &Tokenizer{
		pieces: append([]string(nil), pieces...),
		scores: append([]float32(nil), scores...),
		ids:    make(map[string]int, len(pieces)),
	}
	for id, p := range t.pieces {
		if p == "" {
			return nil, fmt.Errorf("tokenizer: token %d has an empty piece", id)
		}
		if s := float64(scores[id]); math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("tokenizer: token %d (%q) has a non-finite score %v", id, p, s)
		}
		if b := id - byteOffset; b >= 0 && b < 256 && p != fmt.Sprintf("<0x%02X>", b) {
			return nil, fmt.Errorf("tokenizer: token %d is %q, want the byte-fallback piece <0x%02X>", id, p, b)
		}
		if _, dup := t.ids[p]; !dup {
			t.ids[p] = id
		}
		t.maxPieceL = max(t.maxPieceL, len(p))
	}
	return t, nil
}

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// Token returns the raw piece and merge score of token id (ok false if id is
// out of range). Spaces are plain ' ' (llama2.c's export replaced '▁').
func (t *Tokenizer) Token(id int) (piece string, score float32, ok bool) {
	if id < 0 || id >= len(t.pieces) {
		return "", 0, false
	}
	return t.pieces[id], t.scores[id], true
}

// Lookup returns the id of a piece (the lowest one if repeated).
func (t *Tokenizer) Lookup(piece string) (int, bool) {
	id, ok := t.ids[piece]
	return id, ok
}

// MaxTokenLength returns the length in bytes of the longest piece.
func (t *Tokenizer) MaxTokenLength() int { return t.maxPieceL }
