package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/tokenizer"
)

// TestHFLayoutGreedyContinuation converts stories260K and its tokenizer to
// the Hugging Face layout (safetensors + config.json + tokenizer.json),
// reloads both through LoadModel/LoadTokenizer and checks the known greedy
// continuation of "Once upon a time".
func TestHFLayoutGreedyContinuation(t *testing.T) {
	m, tok, _ := stories(t)
	dir := t.TempDir()
	if err := datasets.SaveHF(dir, m.Config(), m.Weights(), datasets.HFSaveOptions{DType: datasets.F16}); err != nil {
		t.Fatal(err)
	}
	js, err := tok.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	hm, format, err := LoadModel(dir)
	if err != nil || format != FormatHF {
		t.Fatalf("LoadModel: %v (format %s)", err, format)
	}
	enc, bos, path, err := LoadTokenizer("", dir, hm.Config().VocabSize)
	if err != nil || filepath.Base(path) != "tokenizer.json" || bos != tokenizer.BOS {
		t.Fatalf("LoadTokenizer: %v (%s, bos %d)", err, path, bos)
	}
	jt := enc.(*tokenizer.JSONTokenizer)
	prompt := jt.Encode("Once upon a time", true, false)
	out, err := hm.Generate(prompt, 40)
	if err != nil {
		t.Fatal(err)
	}
	const want = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park"
	if got := jt.Decode(append(prompt, out...)); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("greedy continuation in the HF layout (F16):\n got %q\nwant %q", got, want)
	}
}
