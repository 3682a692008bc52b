package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/tokenizer"
)

// checkExportExtras checks an ARMOR hf/ export: tokenizer.json encodes like
// the llama2.c tokenizer it came from, tokenizer_config.json is a Llama
// one, tokenizer.bin is kept, and the metadata says the weights are dense.
func checkExportExtras(t *testing.T, hf, tokBin string) {
	t.Helper()
	for _, f := range TokenizerFiles {
		assert.FileExists(t, filepath.Join(hf, f))
	}
	jt, err := tokenizer.LoadJSON(filepath.Join(hf, TokenizerJSONFile))
	require.NoError(t, err)
	bt, err := datasets.LoadTokenizerBin(tokBin)
	require.NoError(t, err)
	for _, s := range []string{"Once upon a time, there was a little girl named Lily.", "  two  spaces\tand a tab", "ünïcödé → bytes"} {
		assert.Equal(t, bt.Encode(s, true, false), jt.Encode(s, true, false), s)
	}
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(hf, TokenizerConfigFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &cfg))
	assert.Equal(t, true, cfg["add_bos_token"])
	assert.Equal(t, "<s>", cfg["bos_token"])
	assert.Equal(t, "LlamaTokenizerFast", cfg["tokenizer_class"])
	meta, err := ReadHFMetadata(hf)
	require.NoError(t, err)
	assert.Equal(t, "armor", meta["pruning_method"])
	assert.Equal(t, "dense", meta["weights"])
	assert.Equal(t, "none", meta["pruning_pattern"])
	assert.Equal(t, "2:4", meta["armor_core_pattern"])
	assert.Contains(t, meta["armor_note"], "factored")
}

func TestHFMetadataOfSparseMethods(t *testing.T) {
	m := HFMetadata(&Pruned{Method: "wanda", Protocol: ProtocolSequential, Pattern: mustPattern(t, "2:4")})
	assert.Equal(t, map[string]string{"pruning_method": "wanda", "pruning_protocol": "sequential", "pruning_pattern": "2:4",
		"weights": "2:4 sparse, stored dense with zeros"}, m)
}

func TestWriteTokenizerFilesErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.bin")
	require.NoError(t, os.WriteFile(bad, []byte("junk"), 0o644))
	_, err := WriteTokenizerFiles(filepath.Join(dir, "out"), bad, 512)
	assert.ErrorContains(t, err, "bad.bin")
	_, err = WriteTokenizerFiles(filepath.Join(dir, "out"), filepath.Join(dir, "missing.json"), 512)
	assert.ErrorContains(t, err, "missing.json")
	_, err = ReadHFMetadata(dir)
	assert.ErrorContains(t, err, "model.safetensors")
}

func mustPattern(t *testing.T, s string) methods.Pattern {
	t.Helper()
	p, err := methods.ParsePattern(s)
	require.NoError(t, err)
	return p
}
