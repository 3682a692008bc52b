package tokenizer

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// sharedLines returns up to n non-empty lines (no '\r') of a shared text.
func sharedLines(t *testing.T, name string, n int) []string {
	t.Helper()
	b, err := os.ReadFile(sharedData(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n") {
		if strings.TrimSpace(l) != "" && len(out) < n {
			out = append(out, l)
		}
	}
	return out
}

// TestJSONTokenizerMatchesBinary converts tok512.bin to a tokenizer.json
// (merges generated from the scores, as Hugging Face's Llama converter does)
// and checks that the tokenizer.json implementation — Hugging Face's BPE
// algorithm, lowest merge rank first — encodes the shared texts exactly as
// llama2.c's score-based merging does, and decodes them back.
func TestJSONTokenizerMatchesBinary(t *testing.T) {
	bin := loadTok512(t)
	js, err := bin.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	jt, err := ParseJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	if jt.VocabSize() != bin.VocabSize() || jt.BOS() != BOS || jt.EOS() != EOS {
		t.Fatalf("vocab %d bos %d eos %d; want %d %d %d", jt.VocabSize(), jt.BOS(), jt.EOS(), bin.VocabSize(), BOS, EOS)
	}
	lines := append(sharedLines(t, "text/tinystories/tinystories_val.txt", 1500), sharedLines(t, "text/wikitext-2-raw/wiki.test.raw", 300)...)
	lines = append(lines, "", " leading and trailing  ", "ünïcödé → 漢字 😀", "tabs\tand\x01control")
	for _, l := range lines {
		want := bin.Encode(l, true, false)
		got := jt.Encode(l, true, false)
		if !slices.Equal(got, want) {
			t.Fatalf("line %q:\n json %v\n bin  %v", l, got, want)
		}
		if dec := jt.Decode(got); dec != l {
			t.Fatalf("decode(encode(%q)) = %q", l, dec)
		}
	}
}

// TestJSONTokenizerFormats checks the merge spellings and the errors.
func TestJSONTokenizerFormats(t *testing.T) {
	doc := func(merges, norm string) []byte {
		return []byte(`{"added_tokens":[{"id":0,"content":"<unk>"},{"id":1,"content":"<s>"},{"id":2,"content":"</s>"}],
"normalizer":` + norm + `,"pre_tokenizer":null,
"model":{"type":"BPE","unk_token":"<unk>","byte_fallback":true,
"vocab":{"<unk>":0,"<s>":1,"</s>":2,"▁":3,"a":4,"b":5,"▁a":6,"ab":7,"▁ab":8},"merges":` + merges + `}}`)
	}
	llama := `{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}`
	for _, merges := range []string{`["a b","▁ a","▁a b"]`, `[["a","b"],["▁","a"],["▁a","b"]]`} {
		jt, err := ParseJSON(doc(merges, llama))
		if err != nil {
			t.Fatal(err)
		}
		// a b merges first (rank 0), then ▁ ab is not a merge: [▁, ab].
		if got := jt.Encode("ab", false, false); !slices.Equal(got, []int{3, 7}) {
			t.Errorf("merges %s: encode(ab) = %v, want [3 7]", merges, got)
		}
	}
	if _, err := ParseJSON(doc(`["a c"]`, llama)); err == nil || !strings.Contains(err.Error(), "merges[0]") {
		t.Errorf("unknown merge piece: error %v", err)
	}
	if _, err := ParseJSON(doc(`[]`, `{"type":"NFKC"}`)); err == nil || !strings.Contains(err.Error(), "NFKC") {
		t.Errorf("unsupported normalizer: error %v", err)
	}
	meta := `null,"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first"}`
	d := strings.Replace(string(doc(`["a b","▁ a","▁a b"]`, meta)), `,"pre_tokenizer":null`, "", 1)
	jt, err := ParseJSON([]byte(d))
	if err != nil {
		t.Fatal(err)
	}
	if got := jt.Encode("a b", false, false); !slices.Equal(got, []int{6, 3, 5}) {
		t.Errorf("Metaspace: encode(a b) = %v, want [6 3 5]", got)
	}
}
