package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/pipeline"
)

// TestConvertKeepsTokenizerAndPruningMetadata converts an ARMOR export
// hf→hf, factored→hf and hf→gguf: the tokenizer files and the pruning
// metadata (dense A·S·B, not 2:4) come along without --tokenizer.
func TestConvertKeepsTokenizerAndPruningMetadata(t *testing.T) {
	t.Setenv("ARMOR_DATA", filepath.Dir(shared.Path(t, "data", "README.md")))
	dir := t.TempDir()
	armor(t, "prune", "--method", "armor", "--block-size", "8", "--iters", "2", "--cal-windows", "2", "--cal-length", "32",
		"--no-eval", "--out", dir)
	for _, in := range []string{"hf", "factored"} {
		t.Run(in, func(t *testing.T) {
			out := filepath.Join(dir, in+"-converted")
			armor(t, "convert", "--in", filepath.Join(dir, in), "--to", "hf", "--dtype", "F16", "--out", out)
			for _, f := range pipeline.TokenizerFiles {
				assert.FileExists(t, filepath.Join(out, f))
			}
			meta, err := pipeline.ReadHFMetadata(out)
			require.NoError(t, err)
			assert.Equal(t, "armor", meta["pruning_method"])
			assert.Equal(t, "dense", meta["weights"])
			assert.Equal(t, "none", meta["pruning_pattern"])
			assert.Equal(t, "2:4", meta["armor_core_pattern"])
			assert.Equal(t, "dense", meta["pruning_protocol"])
		})
	}
	gg := filepath.Join(dir, "m.gguf")
	armor(t, "convert", "--in", filepath.Join(dir, "hf"), "--to", "gguf", "--out", gg)
	g, err := datasets.ReadGGUF(gg)
	require.NoError(t, err)
	v, ok := g.Get("armor.weights")
	assert.True(t, ok)
	assert.Equal(t, "dense", v)
	// A tokenizer.json alone cannot make a GGUF tokenizer: a clear error.
	var so, se syncBuffer
	code := run([]string{"convert", "--in", filepath.Join(dir, "hf"), "--to", "gguf", "--out", gg, "--tokenizer", filepath.Join(dir, "hf", "tokenizer.json")}, &so, &se)
	assert.Equal(t, 1, code)
	assert.Contains(t, se.String(), "needs the llama2.c tokenizer.bin")
}
