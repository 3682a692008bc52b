package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/pipeline"
)

// stagedFixture is stories260K as llama2.c, and converted to a bf16
// Hugging Face checkpoint in two shards, with the flags every run shares.
type stagedFixture struct {
	bin, hf, tok string
	common       []string
}

func newStagedFixture(t *testing.T) stagedFixture {
	t.Helper()
	f := stagedFixture{
		bin: shared.Path(t, "data", "models", "stories260K", "stories260K.bin"),
		tok: shared.Path(t, "data", "models", "stories260K", "tok512.bin"),
		hf:  filepath.Join(t.TempDir(), "hf-bf16"),
	}
	cal := shared.Path(t, "data", "text", "tinystories", "tinystories_val.txt")
	code, _, stderr := runCLI("convert", "--in", f.bin, "--to", "hf", "--dtype", "BF16", "--shard-bytes", "400000", "--out", f.hf)
	require.Equal(t, 0, code, stderr)
	f.common = []string{"--tokenizer", f.tok, "--calibration", cal, "--cal-windows", "6", "--cal-length", "64"}
	return f
}

// cli runs armor and fails the test unless it succeeds.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(args...)
	require.Equal(t, 0, code, "armor %s: %s", strings.Join(args, " "), stderr)
	return stdout
}

// sameExport fails unless the exported model files under a and b are
// byte-identical and their reports equal but for timings and paths.
func sameExport(t *testing.T, what, a, b string) {
	t.Helper()
	var files []string
	require.NoError(t, filepath.Walk(a, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(a, p)
			files = append(files, rel)
		}
		return err
	}))
	require.Contains(t, files, filepath.Join("hf", "config.json"), what)
	for _, rel := range files {
		x, err := os.ReadFile(filepath.Join(a, rel))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, rel))
		require.NoError(t, err, "%s: %s missing from the staged run", what, rel)
		if rel == "report.json" {
			require.Equal(t, normalizedReport(t, x, a), normalizedReport(t, y, b), "%s: report.json", what)
			continue
		}
		require.True(t, string(x) == string(y), "%s: %s differs (%d vs %d bytes)", what, rel, len(x), len(y))
	}
}

// normalizedReport is a report without its timings and with its output
// directory replaced by OUT.
func normalizedReport(t *testing.T, b []byte, dir string) string {
	t.Helper()
	var r pipeline.Report
	require.NoError(t, json.Unmarshal(b, &r))
	r.PruneSeconds, r.EvalSeconds = 0, 0
	for k := range r.Layers {
		r.Layers[k].Seconds = 0
	}
	for _, evs := range [][]pipeline.EvalResult{r.Dense, r.Pruned} {
		for k := range evs {
			evs[k].Seconds = 0
		}
	}
	for k := range r.Exported {
		r.Exported[k] = strings.Replace(r.Exported[k], dir, "OUT", 1)
	}
	out, err := json.Marshal(r)
	require.NoError(t, err)
	return string(out)
}

// TestStagedCLIEqualsPrune: armor calibrate → armor prune --stats
// --layers i/n (i = 0..n-1) → armor assemble writes byte for byte the
// files of one armor prune --out, for n = 1, 2, 3, on stories260K (llama2.c)
// and on its bf16 sharded Hugging Face form, for ARMOR (dense protocol,
// factorized export) and Wanda (sequential protocol, block by block; with
// -short on the llama2.c form only).
func TestStagedCLIEqualsPrune(t *testing.T) {
	f := newStagedFixture(t)
	type run struct {
		method, proto string
		flags         []string
	}
	runs := []run{
		{"armor", "dense", []string{"--iters", "3", "--block-size", "8", "--precision", "float32", "--seed", "7"}},
		{"wanda", "sequential", nil},
	}
	for _, modelPath := range []string{f.bin, f.hf} {
		for _, r := range runs {
			if testing.Short() && modelPath == f.hf && r.proto == "sequential" {
				continue // 50 more processes' worth of tokenizing; the llama2.c run covers it
			}
			what := fmt.Sprintf("%s %s/%s", filepath.Base(modelPath), r.method, r.proto)
			meth := append([]string{"--model", modelPath, "--method", r.method, "--protocol", r.proto}, r.flags...)
			single := filepath.Join(t.TempDir(), "single")
			cli(t, append(append(append([]string{"prune"}, meth...), f.common...), "--wikitext", "none", "--max-windows", "2", "--out", single)...)
			for n := 1; n <= 3; n++ {
				root := t.TempDir()
				stats, parts, out := filepath.Join(root, "stats"), filepath.Join(root, "parts"), filepath.Join(root, "out")
				calib := append([]string{"calibrate", "--model", modelPath, "--protocol", r.proto, "--full-h", "--out", stats}, f.common...)
				shards := func() {
					for i := 0; i < n; i++ {
						cli(t, append(append([]string{"prune"}, meth...), "--stats", stats, "--layers", fmt.Sprintf("%d/%d", i, n), "--out", parts)...)
					}
				}
				if r.proto == "dense" {
					cli(t, calib...)
					shards()
				} else {
					for k := 0; k < 5; k++ {
						cli(t, append(calib, "--block", fmt.Sprint(k), "--parts", parts)...)
						shards()
					}
				}
				cli(t, "assemble", "--model", modelPath, "--tokenizer", f.tok, "--parts", parts, "--wikitext", "none", "--max-windows", "2", "--out", out)
				sameExport(t, fmt.Sprintf("%s n=%d", what, n), single, out)
			}
		}
	}
}

// TestStagedCLIBadInput: bad shard specs, statistics of another model or
// other settings, a missing and a truncated part: exit status 1, an error
// naming the flag or file, and no output written.
func TestStagedCLIBadInput(t *testing.T) {
	f := newStagedFixture(t)
	root := t.TempDir()
	stats, parts := filepath.Join(root, "stats"), filepath.Join(root, "parts")
	cli(t, append([]string{"calibrate", "--model", f.bin, "--out", stats}, f.common...)...)
	prune := []string{"prune", "--model", f.bin, "--method", "wanda", "--protocol", "dense", "--stats", stats, "--out", parts}
	for _, spec := range []string{"3/2", "0/0", "-1/2", "a/b", "1", "2/2"} {
		code, _, stderr := runCLI(append(prune, "--layers", spec)...)
		require.Equal(t, 1, code, spec)
		require.Contains(t, stderr, fmt.Sprintf("flag --layers %q", spec))
	}
	bad := []struct {
		name string
		args []string
		want []string
	}{
		{"another model", []string{"prune", "--model", f.hf, "--method", "wanda", "--protocol", "dense", "--stats", stats, "--out", parts},
			[]string{pipeline.StatsFile(stats, 0), "another model"}},
		{"other windows", append(append([]string{}, prune...), "--cal-windows", "7"),
			[]string{pipeline.StatsFile(stats, 0), "6 windows", "--cal-windows 7"}},
		{"default protocol", []string{"prune", "--model", f.bin, "--method", "wanda", "--stats", stats, "--out", parts},
			[]string{pipeline.StatsFile(stats, 0), "dense protocol", "sequential"}},
		{"layer errors without H", append(append([]string{}, prune...), "--layer-errors"),
			[]string{pipeline.StatsFile(stats, 0), "without the full H"}},
	}
	for _, b := range bad {
		code, _, stderr := runCLI(b.args...)
		require.Equal(t, 1, code, b.name)
		for _, w := range b.want {
			require.Contains(t, stderr, w, b.name)
		}
	}
	_, err := os.Stat(parts)
	require.True(t, os.IsNotExist(err), "a refused run wrote %s", parts)

	cli(t, append(prune, "--layers", "0/2")...)
	out := filepath.Join(root, "out")
	code, _, stderr := runCLI("assemble", "--model", f.bin, "--parts", parts, "--no-eval", "--out", out)
	require.Equal(t, 1, code)
	second := pipeline.LayerShards(mustModel(t, f.bin).Weights(), []int{0, 1, 2, 3, 4}, 2)[1]
	require.Contains(t, stderr, fmt.Sprintf("lacks %d of 35 layers", len(second)))
	require.Contains(t, stderr, second[0])
	cli(t, append(prune, "--layers", "1/2")...)
	torn := pipeline.PartFile(parts, second[3])
	b, err := os.ReadFile(torn)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(torn, b[:len(b)-100], 0o644))
	code, _, stderr = runCLI("assemble", "--model", f.bin, "--parts", parts, "--no-eval", "--out", out)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, torn)
	_, err = os.Stat(out)
	require.True(t, os.IsNotExist(err), "a refused assemble wrote %s", out)
	// The shard that owns the torn part redoes it; then assemble succeeds.
	stdout := cli(t, append(prune, "--layers", "1/2")...)
	require.Contains(t, stdout, `"redone":["`+second[3]+`"]`)
	cli(t, "assemble", "--model", f.bin, "--parts", parts, "--no-eval", "--out", out)
}

func mustModel(t *testing.T, path string) *modelT {
	t.Helper()
	m, _, err := pipeline.LoadModel(path)
	require.NoError(t, err)
	return m
}

type modelT = model.Model
