package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"unicode/utf8"
)

// metaspace is SentencePiece's visible space, "▁" (U+2581), which Hugging
// Face tokenizer.json vocabularies use where llama2.c's pieces hold ' '.
const metaspace = "\u2581"

// JSONTokenizer is a Hugging Face tokenizer.json of the Llama-2
// SentencePiece-BPE kind: model type BPE with byte_fallback, a normalizer
// (or Metaspace pre-tokenizer) that replaces ' ' by "▁" and prepends one
// "▁", and no other pre-tokenization. Encoding follows the tokenizers
// library:
//
//  1. t = "▁" + text with every ' ' replaced by "▁" (nothing for empty text);
//  2. every character of t becomes its vocabulary token, or, when absent,
//     one byte-fallback token <0xXX> per UTF-8 byte (<unk> if those are
//     missing too);
//  3. repeatedly, the adjacent pair of lowest merge rank (leftmost on ties)
//     is replaced by the token of the concatenated pieces, until no adjacent
//     pair is a merge.
//
// It is immutable after construction and safe for concurrent use.
type JSONTokenizer struct {
	pieces  []string // by id, with "▁" for spaces
	ids     map[string]int
	merges  map[[2]int]merge
	byteIDs [256]int // −1 when absent
	unk     int
	bos     int
	eos     int
	prepend bool
}

type merge struct{ rank, id int }

// tokenizerJSON is the part of tokenizer.json that is read.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Model         jsonBPE         `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor,omitempty"`
	Decoder       json.RawMessage `json:"decoder,omitempty"`
}

type jsonBPE struct {
	Type         string            `json:"type"`
	UnkToken     *string           `json:"unk_token"`
	ByteFallback bool              `json:"byte_fallback"`
	FuseUnk      bool              `json:"fuse_unk"`
	Vocab        map[string]int    `json:"vocab"`
	Merges       []json.RawMessage `json:"merges"`
}

// LoadJSON reads a tokenizer.json file.
func LoadJSON(path string) (*JSONTokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	t, err := ParseJSON(b)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json %s: %w", path, err)
	}
	return t, nil
}

// ParseJSON parses the contents of a tokenizer.json.
func ParseJSON(data []byte) (*JSONTokenizer, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, err
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("model.type %q is not supported (want BPE)", tj.Model.Type)
	}
	n := 0
	for _, id := range tj.Model.Vocab {
		n = max(n, id+1)
	}
	for _, a := range tj.AddedTokens {
		n = max(n, a.ID+1)
	}
	if n == 0 || n > 1<<24 {
		return nil, fmt.Errorf("model.vocab has %d entries", n)
	}
	t := &JSONTokenizer{pieces: make([]string, n), ids: make(map[string]int, n), merges: map[[2]int]merge{}, unk: -1, bos: -1, eos: -1}
	for p, id := range tj.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("model.vocab: piece %q has negative id %d", p, id)
		}
		if t.pieces[id] != "" {
			return nil, fmt.Errorf("model.vocab: id %d is used by %q and %q", id, t.pieces[id], p)
		}
		t.pieces[id] = p
		t.ids[p] = id
	}
	for _, a := range tj.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("added_tokens: %q has negative id %d", a.Content, a.ID)
		}
		if t.pieces[a.ID] == "" {
			t.pieces[a.ID] = a.Content
		}
		switch a.Content {
		case "<s>":
			t.bos = a.ID
		case "</s>":
			t.eos = a.ID
		case "<unk>":
			t.unk = a.ID
		}
	}
	if tj.Model.UnkToken != nil {
		if id, ok := t.ids[*tj.Model.UnkToken]; ok {
			t.unk = id
		}
	}
	if t.bos < 0 {
		if id, ok := t.ids["<s>"]; ok {
			t.bos = id
		} else {
			t.bos = BOS
		}
	}
	if t.eos < 0 {
		if id, ok := t.ids["</s>"]; ok {
			t.eos = id
		} else {
			t.eos = EOS
		}
	}
	for b := range t.byteIDs {
		t.byteIDs[b] = -1
		if !tj.Model.ByteFallback {
			continue
		}
		if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteIDs[b] = id
		}
	}
	for r, raw := range tj.Model.Merges {
		a, b, err := parseMerge(raw)
		if err != nil {
			return nil, fmt.Errorf("model.merges[%d]: %w", r, err)
		}
		ia, oka := t.ids[a]
		ib, okb := t.ids[b]
		im, okm := t.ids[a+b]
		if !oka || !okb || !okm {
			return nil, fmt.Errorf("model.merges[%d] %q %q: a piece is not in the vocabulary", r, a, b)
		}
		key := [2]int{ia, ib}
		if _, dup := t.merges[key]; !dup {
			t.merges[key] = merge{rank: r, id: im}
		}
	}
	var err error
	if t.prepend, err = prependsMetaspace(tj.Normalizer, tj.PreTokenizer); err != nil {
		return nil, err
	}
	return t, nil
}

// parseMerge reads a merge written as "a b" or as ["a", "b"].
func parseMerge(raw json.RawMessage) (string, string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		a, b, ok := strings.Cut(s, " ")
		if !ok {
			return "", "", fmt.Errorf("merge %q has no space", s)
		}
		return a, b, nil
	}
	var pair []string
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return "", "", fmt.Errorf("merge %s: want \"a b\" or [\"a\", \"b\"]", string(raw))
	}
	return pair[0], pair[1], nil
}

// prependsMetaspace checks that the normalizer/pre-tokenizer is one of the
// Llama kinds (spaces become "▁", with a "▁" prepended) and reports whether
// the "▁" is prepended.
func prependsMetaspace(norm, pre json.RawMessage) (bool, error) {
	type node struct {
		Type          string          `json:"type"`
		Prepend       string          `json:"prepend"`
		Content       string          `json:"content"`
		Replacement   string          `json:"replacement"`
		PrependScheme string          `json:"prepend_scheme"`
		AddPrefix     *bool           `json:"add_prefix_space"`
		Pattern       json.RawMessage `json:"pattern"`
		Normalizers   []json.RawMessage
		PreTokenizers []json.RawMessage `json:"pretokenizers"`
	}
	prepend, replace := false, false
	var walk func(raw json.RawMessage) error
	walk = func(raw json.RawMessage) error {
		if len(raw) == 0 || string(raw) == "null" {
			return nil
		}
		var n node
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		switch n.Type {
		case "Sequence":
			for _, c := range append(n.Normalizers, n.PreTokenizers...) {
				if err := walk(c); err != nil {
					return err
				}
			}
		case "Prepend":
			if n.Prepend != metaspace {
				return fmt.Errorf("normalizer Prepend %q is not supported (want %q)", n.Prepend, metaspace)
			}
			prepend = true
		case "Replace":
			if n.Content != metaspace {
				return fmt.Errorf("normalizer Replace to %q is not supported (want %q)", n.Content, metaspace)
			}
			replace = true
		case "Metaspace":
			replace = true
			prepend = n.PrependScheme == "always" || n.PrependScheme == "first" || (n.PrependScheme == "" && (n.AddPrefix == nil || *n.AddPrefix))
		case "NFC", "NFKC", "NFD", "NFKD", "Lowercase", "Strip", "StripAccents", "BertPreTokenizer", "Whitespace", "ByteLevel", "Split", "Digits", "Punctuation":
			return fmt.Errorf("normalizer/pre-tokenizer %s is not supported (only the Llama-2 SentencePiece-BPE kind is)", n.Type)
		}
		return nil
	}
	if err := walk(norm); err != nil {
		return false, err
	}
	if err := walk(pre); err != nil {
		return false, err
	}
	if !replace {
		return false, fmt.Errorf("neither normalizer nor pre_tokenizer maps ' ' to %q: not a Llama SentencePiece-BPE tokenizer", metaspace)
	}
	return prepend, nil
}

// VocabSize returns the number of token ids.
func (t *JSONTokenizer) VocabSize() int { return len(t.pieces) }

// BOS returns the id of <s>.
func (t *JSONTokenizer) BOS() int { return t.bos }

// EOS returns the id of </s>.
func (t *JSONTokenizer) EOS() int { return t.eos }

// Encode converts text to token ids (see JSONTokenizer); bos and eos add
// <s> and </s>.
func (t *JSONTokenizer) Encode(text string, bos, eos bool) []int {
	var toks []int
	if bos {
		toks = append(toks, t.bos)
	}
	if text != "" {
		s := strings.ReplaceAll(text, " ", metaspace)
		if t.prepend {
			s = metaspace + s
		}
		toks = append(toks, t.mergeAll(t.symbols(s))...)
	}
	if eos {
		toks = append(toks, t.eos)
	}
	return toks
}

// symbols splits s into character tokens with byte fallback.
func (t *JSONTokenizer) symbols(s string) []int {
	out := make([]int, 0, len(s))
	for i := 0; i < len(s); {
		_, w := utf8.DecodeRuneInString(s[i:]) // an invalid byte stands alone
		c := s[i : i+w]
		i += w
		if id, ok := t.ids[c]; ok {
			out = append(out, id)
			continue
		}
		for k := 0; k < len(c); k++ {
			if id := t.byteIDs[c[k]]; id >= 0 {
				out = append(out, id)
			} else if t.unk >= 0 {
				out = append(out, t.unk)
			}
		}
	}
	return out
}

// mergeAll applies the merges, lowest rank first (leftmost on ties).
func (t *JSONTokenizer) mergeAll(toks []int) []int {
	for len(toks) > 1 {
		best, bestRank, bestID := -1, 0, 0
		for i := 0; i+1 < len(toks); i++ {
			if m, ok := t.merges[[2]int{toks[i], toks[i+1]}]; ok && (best < 0 || m.rank < bestRank) {
				best, bestRank, bestID = i, m.rank, m.id
			}
		}
		if best < 0 {
			break
		}
		toks[best] = bestID
		toks = append(toks[:best+1], toks[best+2:]...)
	}
	return toks
}

// Decode maps ids back to text: pieces are concatenated with "▁" read as
// ' ', byte-fallback tokens become their bytes, special tokens are
// dropped, and the prepended space of the first piece is removed.
func (t *JSONTokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		if id < 0 || id >= len(t.pieces) || id == t.bos || id == t.eos || id == t.unk {
			continue
		}
		p := t.pieces[id]
		var v byte
		if len(p) == 6 && strings.HasPrefix(p, "<0x") && p[5] == '>' {
			if _, err := fmt.Sscanf(p, "<0x%02X>", &v); err == nil {
				b.WriteByte(v)
				continue
			}
		}
		b.WriteString(strings.ReplaceAll(p, metaspace, " "))
	}
	s := b.String()
	if t.prepend {
		s = strings.TrimPrefix(s, " ")
	}
	return s
}

// ToJSON writes t as a Llama-2 style tokenizer.json: vocabulary with "▁"
// for spaces, byte fallback, the special tokens <unk>, <s>, </s> at ids 0-2,
// and merges generated from the scores as Hugging Face's Llama converter
// does — every split of a piece into two vocabulary pieces, ordered by the
// merged piece's score (highest first), then by the merged piece's id and
// the left piece's length.
// With these merges the JSON tokenizer encodes like t.Encode when no two
// mergeable pieces share a score.
func (t *Tokenizer) ToJSON() ([]byte, error) {
	conv := func(p string) string { return strings.ReplaceAll(p, " ", metaspace) }
	vocab := make(map[string]int, len(t.pieces))
	specials := []string{"<unk>", "<s>", "</s>"}
	for id, p := range t.pieces {
		if id < byteOffset {
			p = specials[id]
		} else {
			p = conv(p)
		}
		if _, dup := vocab[p]; !dup {
			vocab[p] = id
		}
	}
	type cand struct {
		a, b  string
		score float32
		id    int
	}
	var cands []cand
	for id, p := range t.pieces {
		if id < byteOffset+256 {
			continue
		}
		if t.ids[p] != id {
			continue // duplicate piece: only the lowest id is reachable
		}
		for k := 1; k < len(p); k++ {
			a, b := p[:k], p[k:]
			ia, oka := t.ids[a]
			ib, okb := t.ids[b]
			if oka && okb && ia >= byteOffset && ib >= byteOffset {
				cands = append(cands, cand{conv(a), conv(b), t.scores[id], id})
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].score != cands[j].score {
			return cands[i].score > cands[j].score
		}
		if cands[i].id != cands[j].id {
			return cands[i].id < cands[j].id
		}
		return len(cands[i].a) < len(cands[j].a)
	})
	merges := make([]string, len(cands))
	for i, c := range cands {
		merges[i] = c.a + " " + c.b
	}
	type added struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	doc := map[string]any{
		"version":    "1.0",
		"truncation": nil, "padding": nil,
		"added_tokens": []added{
			{ID: 0, Content: "<unk>", Special: true}, {ID: 1, Content: "<s>", Special: true}, {ID: 2, Content: "</s>", Special: true},
		},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": metaspace},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": metaspace},
		}},
		"pre_tokenizer": nil,
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 1}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{BOS}, "tokens": []string{"<s>"}}},
		},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": metaspace}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
		}},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": "<unk>", "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
			"vocab": vocab, "merges": merges,
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}
