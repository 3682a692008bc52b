package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/internal/shared"
)

// TestEffectiveConfigReruns checks that results/<exp>/config.yaml holds the
// --set overrides as values and that sweeping it as is plans exactly the
// cells (keys) of the first run, so the rerun computes nothing.
func TestEffectiveConfigReruns(t *testing.T) {
	ckpt := shared.Path(t, "data", "models", "stories260K", "stories260K.bin")
	tok := shared.Path(t, "data", "models", "stories260K", "tok512.bin")
	text := shared.Path(t, "data", "text", "tinystories", "tinystories_val.txt")
	cases := []struct {
		name, yaml, sets string
		want             []string // lines the saved config must contain
	}{
		{"synthetic", "", "armor.iters=[0,3] armor.block_size=[8] seed=[2] methods=[nowag,armor]",
			[]string{"    - 3\n", "seed:\n  - 2\n", "methods:\n  - nowag\n  - armor\n"}},
		{"model", fmt.Sprintf(`experiment: m
source:
  model:
    checkpoint: %s
    tokenizer: %s
    layers: [0]
    projections: [o_proj]
calibration:
  corpus: %s
  sequences: 2
  length: 32
methods: [magnitude]
evaluation:
  perplexity: [%s]
`, ckpt, tok, text, text), "evaluation.max_windows=1 calibration.sequences=3",
			[]string{"max_windows: 1\n", "sequences: 3\n", "checkpoint: " + ckpt + "\n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, "")
			if c.yaml != "" {
				cfg = filepath.Join(dir, "m.yaml")
				require.NoError(t, os.WriteFile(cfg, []byte(c.yaml+"output_dir: "+filepath.Join(dir, "results")+"\n"), 0o644))
			}
			_, errs := armor(t, "sweep", "--config", cfg, "--set", c.sets, "--progress", "none", "--no-tables")
			require.NotContains(t, errs, " 0 cells in this run")
			first, err := config.Load(cfg, c.sets)
			require.NoError(t, err)
			saved := filepath.Join(experimentDir(first), "config.yaml")
			data, err := os.ReadFile(saved)
			require.NoError(t, err)
			for _, w := range c.want {
				assert.Contains(t, string(data), w)
			}
			assert.Contains(t, string(data), "with --set")
			cellsBefore := readCells(t, filepath.Join(experimentDir(first), "cells.jsonl"))

			again, err := config.Load(saved)
			require.NoError(t, err, "the saved config loads as is:\n%s", data)
			assert.Equal(t, experimentDir(first), experimentDir(again))
			_, errs = armor(t, "sweep", "--config", saved, "--progress", "none", "--no-tables")
			assert.Contains(t, errs, "0 cells in this run, ")
			if c.yaml != "" {
				assert.Contains(t, errs, "model cells planned (whole-model pruning + perplexity), 2 already done")
			}
			assertSameCells(t, cellsBefore, readCells(t, filepath.Join(experimentDir(first), "cells.jsonl")))
			// The rerun's own saved config is the same file but for the header.
			data2, err := os.ReadFile(saved)
			require.NoError(t, err)
			body := func(b []byte) string { _, rest, _ := strings.Cut(string(b), "\nexperiment:"); return rest }
			assert.Equal(t, body(data), body(data2))
		})
	}
}
