package sweep

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/source"
	"github.com/prunebench/armor/methods"
)

const cfgText = `experiment: t
source:
  synthetic:
    seed: 3
    samples: 32
    outliers: 1
    shapes:
      - {name: a, d_out: 8, d_in: 16}
      - {name: b, d_out: 12, d_in: 8}
methods: [magnitude, wanda, sparsegpt, nowag, armor]
seed: [0, 1]
armor:
  block_size: [4, 8, 32]
  iters: [0, 5]
`

func load(t *testing.T, sets ...string) (*config.Config, source.Source, []Job) {
	t.Helper()
	c, err := config.Parse(filepath.Join(t.TempDir(), "c.yaml"), []byte(cfgText), sets...)
	require.NoError(t, err)
	src, err := source.Open(c)
	require.NoError(t, err)
	ls, err := src.Layers()
	require.NoError(t, err)
	jobs, _, err := Plan(c, ls)
	require.NoError(t, err)
	return c, src, jobs
}

func TestPlanExpansion(t *testing.T) {
	_, _, jobs := load(t)
	count := map[string]int{}
	keys := map[string]bool{}
	for _, j := range jobs {
		count[j.Method]++
		assert.False(t, keys[j.Key], "duplicate key %s", j.Label())
		keys[j.Key] = true
	}
	// Baselines once per layer; ARMOR: b ∈ {4, 8} (32 exceeds both dims of
	// both layers and is skipped) × 2 budgets × 2 seeds per layer.
	assert.Equal(t, map[string]int{"magnitude": 2, "wanda": 2, "sparsegpt": 2, "nowag": 2, "armor": 16}, count)
	for i, j := range jobs {
		assert.Equal(t, i, j.Index)
	}
}

func TestPlanKeysStable(t *testing.T) {
	_, _, a := load(t)
	_, _, b := load(t, "methods=armor")
	byLabel := map[string]string{}
	for _, j := range a {
		byLabel[j.Label()] = j.Key
	}
	for _, j := range b {
		assert.Equal(t, byLabel[j.Label()], j.Key, "a cell's key must not depend on the rest of the sweep")
	}
}

func TestShardsPartition(t *testing.T) {
	_, _, jobs := load(t)
	seen := map[string]int{}
	for i := 0; i < 3; i++ {
		p, n := Pending(jobs, nil, i, 3)
		assert.Equal(t, len(p), n)
		for _, j := range p {
			seen[j.Key]++
		}
	}
	assert.Len(t, seen, len(jobs))
	for _, n := range seen {
		assert.Equal(t, 1, n)
	}
}

func runAll(t *testing.T, workers int) map[string]*cells.Cell {
	c, src, jobs := load(t)
	st, _, err := cells.Open(filepath.Join(t.TempDir(), "cells.jsonl"))
	require.NoError(t, err)
	defer st.Close()
	sum, err := Run(context.Background(), src, jobs, nil, st, Options{Experiment: c.Experiment, Workers: workers})
	require.NoError(t, err)
	assert.Equal(t, len(jobs), sum.Ran)
	got, _, err := cells.Read(st.Path())
	require.NoError(t, err)
	out := map[string]*cells.Cell{}
	for _, cl := range got {
		out[cl.Key] = cl
	}
	return out
}

func TestWorkersDoNotChangeNumbers(t *testing.T) {
	one, two := runAll(t, 1), runAll(t, 2)
	require.Len(t, two, len(one))
	for k, a := range one {
		b := two[k]
		require.NotNil(t, b, k)
		same, field := cells.SameNumbers(a, b)
		assert.True(t, same, "%s %s differs in %s", a.Method, a.Layer, field)
	}
}

func TestRunSkipsDone(t *testing.T) {
	c, src, jobs := load(t)
	st, _, err := cells.Open(filepath.Join(t.TempDir(), "cells.jsonl"))
	require.NoError(t, err)
	defer st.Close()
	done := map[string]bool{jobs[0].Key: true, jobs[3].Key: true}
	sum, err := Run(context.Background(), src, jobs, done, st, Options{Experiment: c.Experiment, Workers: 2})
	require.NoError(t, err)
	assert.Equal(t, len(jobs)-2, sum.Ran)
	assert.Equal(t, 2, sum.Skipped)
}

func TestReference(t *testing.T) {
	c, _, _ := load(t)
	assert.Equal(t, cells.Params{BlockSize: 4, Iters: 5, Seed: 0, LR: 1e-4, Select: "gradient", Continuous: "adam", Patience: 100}, Reference(c))
}

func TestGroupsPerTile(t *testing.T) {
	_, _, jobs := load(t, "methods=armor armor.groups_per_tile=[1,0,2] seed=0 armor.block_size=4 armor.iters=5")
	require.Len(t, jobs, 2*3)
	got := map[int]int{}
	for _, j := range jobs {
		got[j.Params.GroupsPerTile] = MethodConfig(j, 1).ARMOR.GroupsPerTile
	}
	assert.Equal(t, map[int]int{0: 1, -1: 0, 2: 2}, got)
}

func TestPrecisionAxis(t *testing.T) {
	_, _, jobs := load(t, "methods=armor armor.precision=[float64,float32] armor.continuous=[adam,gd] seed=0 armor.block_size=4 armor.iters=5")
	// Per layer: adam in both precisions, gd in float64 only.
	require.Len(t, jobs, 2*3)
	got := map[string]int{}
	for _, j := range jobs {
		cfg := MethodConfig(j, 1).ARMOR
		got[string(cfg.Continuous)+"/"+string(cfg.Precision)]++
		if j.Params.Precision == "" {
			assert.Equal(t, methods.Float64, cfg.Precision, "the default stays out of the cell key")
		}
	}
	assert.Equal(t, map[string]int{"adam/float64": 2, "adam/float32": 2, "gd/float64": 2}, got)
}

// TestSparseGPTPrecision: sparsegpt.precision reaches the method, and the
// default (absent or float64) keeps the cell keys made before the setting
// existed.
func TestSparseGPTPrecision(t *testing.T) {
	c, _, def := load(t, "methods=sparsegpt")
	_, _, f64 := load(t, "methods=sparsegpt sparsegpt.precision=float64")
	_, _, f32 := load(t, "methods=sparsegpt sparsegpt.precision=float32")
	require.Len(t, def, 2)
	for i, j := range def {
		old := cells.Key(cells.KeyInput{Version: Version, Kind: "layer", LayerID: j.Layer.Identity, Layer: j.Layer.Name,
			Method: "sparsegpt", Pattern: j.Pattern.String(), Params: cells.Params{LazyBlock: c.SparseGPT.LazyBlock, Damp: c.SparseGPT.Damp}})
		assert.Equal(t, old, j.Key, "default key as before sparsegpt.precision existed")
		assert.Equal(t, j.Key, f64[i].Key, "explicit float64 is the default")
		assert.NotEqual(t, j.Key, f32[i].Key)
		assert.Equal(t, methods.Float64, MethodConfig(j, 1).SparseGPT.Precision)
		assert.Equal(t, methods.Float32, MethodConfig(f32[i], 1).SparseGPT.Precision)
		assert.Equal(t, "float32", f32[i].Params.Precision)
	}
}
