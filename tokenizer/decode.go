package tokenizer

import "strings"

// Piece returns the text of token tok when it follows token prev, as in
// llama2.c's decode: the byte-fallback token <0xXX> yields the single raw
// byte XX (possibly part of a multi-byte UTF-8 character), and after BOS a
// leading space (the dummy prefix) is dropped. Other pieces, including those
// of special tokens, are returned as stored. An out-of-range tok yields "".
func (t *Tokenizer) Piece(prev, tok int) string {
	if tok < 0 || tok >= len(t.pieces) {
		return ""
	}
	if tok >= byteOffset && tok < byteOffset+256 && isByteToken(t.pieces[tok]) {
		return string([]byte{byte(tok - byteOffset)})
	}
	p := t.pieces[tok]
	if prev == BOS && strings.HasPrefix(p, " ") {
		p = p[1:]
	}
	return p
}

// isByteToken reports whether p has the form <0xXX>.
func isByteToken(p string) bool {
	return len(p) == 6 && strings.HasPrefix(p, "<0x") && p[5] == '>'
}

// Decode concatenates Piece(prev, tok) over tokens, with BOS and EOS
// themselves producing no text. Hence Decode(Encode(s, true, false)) == s
// when every character of s is in the vocabulary or falls back to bytes,
// and without BOS the dummy-prefix space is kept.
func (t *Tokenizer) Decode(tokens []int) string {
	var sb strings.Builder
	prev := -1
	for _, tok := range tokens {
		if tok != BOS && tok != EOS {
			sb.WriteString(t.Piece(prev, tok))
		}
		prev = tok
	}
	return sb.String()
}
