package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/prunebench/armor/internal/blasimpl"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/cells"
)

// writeConfig writes a small synthetic experiment whose results go to
// dir/results, and returns its path.
func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	text := fmt.Sprintf(`experiment: test
output_dir: %s
source:
  synthetic:
    seed: 5
    samples: 48
    outliers: 1
    shapes:
      - {name: a, d_out: 16, d_in: 32}
      - {name: b, d_out: 24, d_in: 16}
      - {name: c, d_out: 16, d_in: 16}
methods: [magnitude, wanda, sparsegpt, nowag, armor]
armor:
  block_size: [8, 16]
  iters: [0, 20]
run:
  workers: 2
%s`, filepath.Join(dir, "results"), extra)
	p := filepath.Join(dir, "exp.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

func armor(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	require.Equal(t, 0, code, "armor %s failed:\n%s", strings.Join(args, " "), errb.String())
	return out.String(), errb.String()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func readCells(t *testing.T, p string) map[string]*cells.Cell {
	t.Helper()
	cs, _, err := cells.Read(p)
	require.NoError(t, err)
	m := map[string]*cells.Cell{}
	for _, c := range cs {
		_, dup := m[c.Key]
		require.False(t, dup, "cell %s (%s %s) stored twice", c.Key, c.Method, c.Layer)
		m[c.Key] = c
	}
	return m
}

func assertSameCells(t *testing.T, want, got map[string]*cells.Cell) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for k, w := range want {
		g, ok := got[k]
		require.True(t, ok, "cell %s (%s %s) missing", k, w.Method, w.Layer)
		same, field := cells.SameNumbers(w, g)
		assert.True(t, same, "cell %s (%s %s) differs in %s", k, w.Method, w.Layer, field)
	}
}

func TestSweepTablesAndRerun(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "")
	out, _ := armor(t, "sweep", "--config", cfg, "--progress", "none")
	assert.Contains(t, out, "Per-layer proxy loss")
	exp := filepath.Join(dir, "results", "test")
	first := readCells(t, filepath.Join(exp, "cells.jsonl"))
	assert.Len(t, first, 3*(4+2*2)) // 3 layers × (4 baselines + 2 block sizes × 2 budgets)
	for _, f := range []string{"tables.md", "table_layers.csv", "table_block_size.tex", "table_iters.md", "plot_loss_vs_iter.png", "plot_layer_loss.svg", "config.yaml"} {
		assert.FileExists(t, filepath.Join(exp, f))
	}
	// A rerun computes nothing and changes nothing.
	_, errs := armor(t, "sweep", "--config", cfg, "--progress", "lines")
	assert.Contains(t, errs, "0 cells in this run")
	// A run that ends normally does not report an interruption: the signal
	// watcher used to, when the context was cancelled on return, a moment
	// after the run's last line (so the check waits that moment).
	var quietOut, quietErr syncBuffer
	require.Equal(t, 0, run([]string{"sweep", "--config", cfg, "--progress", "none", "--no-tables"}, &quietOut, &quietErr))
	time.Sleep(200 * time.Millisecond)
	assert.NotContains(t, quietErr.String(), "interrupted")
	assertSameCells(t, first, readCells(t, filepath.Join(exp, "cells.jsonl")))
	// tables re-renders from cells alone.
	want, err := os.ReadFile(filepath.Join(exp, "tables.md"))
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(exp, "tables.md")))
	armor(t, "tables", "--config", cfg)
	assert.FileExists(t, filepath.Join(exp, "tables.md"))
	// Cells of an older code version (what a results directory holds after
	// methods.Version changes and the sweep is rerun) are left out of the
	// tables, not mixed in: the tables are unchanged.
	f, err := os.OpenFile(filepath.Join(exp, "cells.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	for _, c := range first {
		old := *c
		old.Key, old.Version, old.ProxyLoss = "old"+c.Key, "prunebench/0+methods/1", old.ProxyLoss*2
		line, err := json.Marshal(&old)
		require.NoError(t, err)
		_, err = f.Write(append(line, '\n'))
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
	_, errs = armor(t, "tables", "--config", cfg)
	assert.Contains(t, errs, fmt.Sprintf("ignoring %d cell(s) computed by an older code version", len(first)))
	got, err := os.ReadFile(filepath.Join(exp, "tables.md"))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestWorkerCountDoesNotMatter(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	armor(t, "sweep", "--config", writeConfig(t, d1, ""), "--workers", "1", "--progress", "none", "--no-tables")
	armor(t, "sweep", "--config", writeConfig(t, d2, ""), "--workers", "2", "--progress", "none", "--no-tables")
	assertSameCells(t, readCells(t, filepath.Join(d1, "results", "test", "cells.jsonl")),
		readCells(t, filepath.Join(d2, "results", "test", "cells.jsonl")))
}

func TestShardsAndMergeEqualSingleRun(t *testing.T) {
	single, sharded := t.TempDir(), t.TempDir()
	armor(t, "sweep", "--config", writeConfig(t, single, ""), "--progress", "none", "--no-tables")
	cfg := writeConfig(t, sharded, "")
	for i := 0; i < 3; i++ {
		armor(t, "sweep", "--config", cfg, "--shard", fmt.Sprintf("%d/3", i), "--progress", "none")
	}
	// Running a shard twice and merging twice must not duplicate anything.
	armor(t, "sweep", "--config", cfg, "--shard", "1/3", "--progress", "none")
	armor(t, "merge", "--config", cfg)
	_, errs := armor(t, "merge", "--config", cfg)
	assert.Contains(t, errs, "duplicates dropped")
	want := readCells(t, filepath.Join(single, "results", "test", "cells.jsonl"))
	assertSameCells(t, want, readCells(t, filepath.Join(sharded, "results", "test", "cells.jsonl")))
	armor(t, "tables", "--config", cfg)
}

func TestMergeConflict(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	require.NoError(t, cells.WriteAll(a, []*cells.Cell{{Key: "k", Method: "wanda", ProxyLoss: 0.5}}))
	require.NoError(t, cells.WriteAll(b, []*cells.Cell{{Key: "k", Method: "wanda", ProxyLoss: 0.25}}))
	var out, errb bytes.Buffer
	code := run([]string{"merge", "--out", filepath.Join(dir, "m.jsonl"), a, b}, &out, &errb)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), "different proxy_loss")
}

func TestSweepErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"sweep"}, "--config is required"},
		{"bad shard", []string{"sweep", "--config", cfg, "--shard", "3/3"}, "0 ≤ i < n"},
		{"bad override", []string{"sweep", "--config", cfg, "--set", "armor.iters=-1"}, "--set armor.iters[0]: armor iterations -1 must be ≥ 0"},
		{"unknown layer", []string{"sweep", "--config", cfg, "--set", "layers=[zz]"}, `"zz" matches no layer`},
		{"tables before sweep", []string{"tables", "--config", cfg}, "run armor sweep"},
		{"missing file", []string{"sweep", "--config", filepath.Join(dir, "nope.yaml")}, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			assert.NotEqual(t, 0, code)
			assert.Contains(t, errb.String(), tc.want)
		})
	}
}

// TestResumeAfterKill runs a sweep in a subprocess, SIGKILLs it after some
// cells are stored, tears the last line as a kill in mid-write would, and
// checks that the rerun loses nothing, repeats nothing and gives the same
// numbers as an uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "armor")
	// Build the subprocess with this test binary's BLAS backend: OpenBLAS and
	// gonum round differently, and the cells are compared bit for bit.
	args := []string{"build", "-o", bin}
	if strings.HasPrefix(blasimpl.Name(), "OpenBLAS") {
		args = append(args, "-tags", "openblas")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	slow := "  patience: [0]\n"
	dir := filepath.Join(tmp, "killed")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	cfg := writeConfig(t, dir, "")
	// Enough ARMOR work that the kill lands mid-sweep.
	text, err := os.ReadFile(cfg)
	require.NoError(t, err)
	text = bytes.Replace(text, []byte("  iters: [0, 20]\n"), []byte("  iters: [0, 20, 3000, 4000]\n"+slow), 1)
	require.NoError(t, os.WriteFile(cfg, text, 0o644))
	cellsPath := filepath.Join(dir, "results", "test", "cells.jsonl")

	cmd := exec.Command(bin, "sweep", "--config", cfg, "--workers", "1", "--progress", "lines", "--no-tables")
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, _, _ := cells.Read(cellsPath)
		if len(cs) >= 3 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no cells written within 30 s")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	before := readCells(t, cellsPath)
	f, err := os.OpenFile(cellsPath, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"key":"torn","kind":"lay`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	_, errs := armor(t, "sweep", "--config", cfg, "--workers", "2", "--progress", "lines", "--no-tables")
	assert.Contains(t, errs, fmt.Sprintf("%d cell(s) already done", len(before)))
	after := readCells(t, cellsPath)
	for k := range before {
		assert.Contains(t, after, k, "a cell finished before the kill was lost")
	}
	assert.Greater(t, len(after), len(before))

	ref := filepath.Join(tmp, "ref")
	require.NoError(t, os.MkdirAll(ref, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(ref, "exp.yaml"), bytes.ReplaceAll(text, []byte(dir), []byte(ref)), 0o644))
	armor(t, "sweep", "--config", filepath.Join(ref, "exp.yaml"), "--progress", "none", "--no-tables")
	assertSameCells(t, readCells(t, filepath.Join(ref, "results", "test", "cells.jsonl")), after)
}
