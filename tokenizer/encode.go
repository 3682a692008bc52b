package tokenizer

import "math"

// Encode converts text to token ids as llama2.c does:
//
//  1. if text is non-empty a dummy-prefix space is prepended (" " + text);
//  2. the text is split into UTF-8 code points (a lead byte and up to three
//     continuation bytes; invalid bytes stand alone); each becomes the token
//     whose piece it is, or else one byte-fallback token per byte
//     (<0xXX>, id byte+3);
//  3. repeatedly, among adjacent token pairs whose concatenated pieces form
//     a piece of the vocabulary, the pair whose merged piece has the highest
//     score (the leftmost on ties) is replaced by the merged token, until no
//     pair merges.
//
// If bos, BOS is prepended; if eos, EOS is appended.
func (t *Tokenizer) Encode(text string, bos, eos bool) []int {
	toks := make([]int, 0, len(text)+3)
	if bos {
		toks = append(toks, BOS)
	}
	if text != "" {
		toks = t.appendSymbols(toks, " "+text)
	}
	if bos {
		toks = append(toks[:1], t.merge(toks[1:])...)
	} else {
		toks = t.merge(toks)
	}
	if eos {
		toks = append(toks, EOS)
	}
	return toks
}

// appendSymbols appends the code-point (or byte-fallback) tokens of s.
func (t *Tokenizer) appendSymbols(toks []int, s string) []int {
	for i := 0; i < len(s); {
		j := i + 1
		if s[i]&0xC0 != 0x80 { // a lead byte collects its continuation bytes
			for j < len(s) && j-i < 4 && s[j]&0xC0 == 0x80 {
				j++
			}
		}
		if id, ok := t.ids[s[i:j]]; ok {
			toks = append(toks, id)
		} else {
			for k := i; k < j; k++ {
				toks = append(toks, int(s[k])+byteOffset)
			}
		}
		i = j
	}
	return toks
}

// merge applies the BPE merges to toks in place and returns the result.
// pair[i] is the id of pieces[toks[i]]+pieces[toks[i+1]] (−1 if absent);
// only the two pairs next to a merge change, so each merge costs one scan
// for the best score plus a shift.
func (t *Tokenizer) merge(toks []int) []int {
	if len(toks) < 2 {
		return toks
	}
	pair := make([]int, len(toks)-1)
	var buf []byte
	lookup := func(a, b int) int {
		buf = append(append(buf[:0], t.pieces[a]...), t.pieces[b]...)
		if id, ok := t.ids[string(buf)]; ok {
			return id
		}
		return -1
	}
	for i := range pair {
		pair[i] = lookup(toks[i], toks[i+1])
	}
	for {
		best, bestScore := -1, float32(math.Inf(-1))
		for i, id := range pair {
			if id >= 0 && (best < 0 || t.scores[id] > bestScore) {
				best, bestScore = i, t.scores[id]
			}
		}
		if best < 0 {
			return toks
		}
		toks[best] = pair[best]
		toks = append(toks[:best+1], toks[best+2:]...)
		pair = append(pair[:best], pair[best+1:]...)
		if best > 0 {
			pair[best-1] = lookup(toks[best-1], toks[best])
		}
		if best < len(pair) {
			pair[best] = lookup(toks[best], toks[best+1])
		}
	}
}
