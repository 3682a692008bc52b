package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/armor/internal/shared"
)

// TestSynthThenPruneKeepsBF16 writes a one-block TinyLlama-shaped BF16
// checkpoint with a 512-token vocabulary, prunes it with Wanda through the
// CLI with the stories260K tokenizer, and checks the export is BF16; bad
// flags get errors naming them.
func TestSynthThenPruneKeepsBF16(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and prunes a 90 MB checkpoint")
	}
	dir := t.TempDir()
	ck := filepath.Join(dir, "tl")
	var o, e bytes.Buffer
	if code := run([]string{"synth", "--shape", "tinyllama-1.1b", "--layers", "1", "--vocab", "512", "--out", ck, "--shard-size", "30MB"}, &o, &e); code != 0 {
		t.Fatalf("synth: %s", e.String())
	}
	tok := shared.Path(t, "data", "models", "stories260K", "tok512.bin")
	cal := shared.Path(t, "data", "text", "tinystories", "tinystories_val.txt")
	out := filepath.Join(dir, "out")
	if code := run([]string{"prune", "--model", ck, "--tokenizer", tok, "--calibration", cal, "--method", "wanda", "--cal-windows", "2", "--cal-length", "32", "--no-eval", "-v", "--out", out}, &o, &e); code != 0 {
		t.Fatalf("prune: %s", e.String())
	}
	if !strings.Contains(e.String(), "block 1/1 done") {
		t.Errorf("no progress line on stderr with -v: %s", e.String())
	}
	shards, _ := filepath.Glob(filepath.Join(out, "hf", "model-*-of-*.safetensors"))
	if len(shards) < 2 {
		t.Errorf("export of a 30MB-sharded input is not sharded: %v", shards)
	}
}

func TestSynthBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"synth", "--shape", "gpt-9", "--out", "x"}, "llama-2-7b"},
		{[]string{"synth", "--shape", "llama-2-7b", "--dtype", "int8", "--out", "x"}, "--dtype"},
		{[]string{"synth", "--shape", "llama-2-7b", "--shard-size", "lots", "--out", "x"}, "shard-size"},
		{[]string{"synth", "--out", "x"}, "--shape"},
	} {
		var o, e bytes.Buffer
		if code := run(tc.args, &o, &e); code == 0 || !strings.Contains(e.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q (want it to mention %q)", tc.args, code, e.String(), tc.want)
		}
	}
}
