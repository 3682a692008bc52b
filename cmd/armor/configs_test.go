package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/config"
)

// TestShippedConfigsParse checks every config in configs/.
func TestShippedConfigsParse(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := config.Load(f)
			assert.NoError(t, err)
		})
	}
}

// TestSmokeConfig runs configs/smoke.yaml end to end.
func TestSmokeConfig(t *testing.T) {
	out := t.TempDir()
	md, _ := armor(t, "sweep", "--config", "../../configs/smoke.yaml", "--set", "output_dir="+out, "--progress", "none")
	assert.Contains(t, md, "ARMOR proxy loss by block size")
	assert.FileExists(t, filepath.Join(out, "smoke", "table_iters.tex"))
}

// TestLlamaFallbackSaysSo runs a cut-down configs/llama.yaml: without a
// model source it must run on the builtin layers and say so on stderr and
// in the results. The checkpoint is made unreachable so the test holds
// once a model source is registered too.
func TestLlamaFallbackSaysSo(t *testing.T) {
	out := t.TempDir()
	md, errs := armor(t, "sweep", "--config", "../../configs/llama.yaml", "--progress", "none",
		"--set", "output_dir="+out+" source.model.checkpoint=does-not-exist.bin source.model.layers=[1] source.model.projections=[k_proj] armor.iters=[0,5] armor.block_size=[16,32] outputs.report_block_size=16")
	assert.Contains(t, errs, "NOTE: model source")
	assert.Contains(t, errs, "builtin")
	assert.Contains(t, md, "NOTE:")
	b, err := os.ReadFile(filepath.Join(out, "llama", "tables.md"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "NOT the model's layers")
	assert.Contains(t, string(b), "layers.1.k_proj")
}
