package sweep

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/source"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/cell_keys.golden from the current code")

// goldenLayers stand in for a source's layers: the keys depend on a layer
// only through its name, identity and shape, and these shapes make some of
// the configs' block sizes exceed both dimensions (skipped cells).
var goldenLayers = []source.Info{
	{Name: "small", DOut: 16, DIn: 32, Identity: "golden-small"},
	{Name: "medium", DOut: 64, DIn: 176, Identity: "golden-medium"},
	{Name: "wide", DOut: 128, DIn: 256, Identity: "golden-wide"},
}

// goldenCases are the shipped configs as they are, and with overrides that
// reach every value of every knob (each ARMOR axis, SparseGPT's settings,
// a second pattern).
var goldenCases = []struct {
	name, file, set string
}{
	{"llama", "llama.yaml", ""},
	{"smoke", "smoke.yaml", ""},
	{"synthetic", "synthetic.yaml", ""},
	{"synthetic-rules", "synthetic.yaml",
		"armor.block_size=[8,32] armor.iters=[0,50] armor.select=[gradient,greedy,random] armor.continuous=[adam,gd,exact] armor.precision=[float64,float32] outputs.report_block_size=8"},
	{"synthetic-numbers", "synthetic.yaml",
		"armor.block_size=[16] armor.iters=[5] seed=[0,7] armor.lr=[1.0e-4,3.0e-3] armor.patience=[0,100] armor.groups_per_tile=[1,0,2] outputs.report_block_size=16"},
	{"synthetic-float32-first", "synthetic.yaml",
		"armor.block_size=[8] armor.iters=[5] armor.precision=[float32,float64] armor.continuous=[gd,adam] outputs.report_block_size=8"},
	{"synthetic-patterns", "synthetic.yaml",
		`pattern=["2:4","2:8","1:4"] armor.block_size=[8,16] armor.iters=[5] outputs.report_block_size=8`},
	{"synthetic-sparsegpt", "synthetic.yaml",
		"methods=[sparsegpt,armor] sparsegpt.lazy_block=64 sparsegpt.damp=0.05 sparsegpt.precision=float32 armor.block_size=[8] armor.iters=[5] outputs.report_block_size=8"},
	{"smoke-sparsegpt-float64", "smoke.yaml", "methods=[sparsegpt] sparsegpt.precision=float64"},
}

// goldenLines is every planned cell of every case (in plan order, with its
// key and parameters), each case's reference setting and SparseGPT
// parameters, and the skip notes.
func goldenLines(t *testing.T) []string {
	var out []string
	js := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return string(b)
	}
	for _, tc := range goldenCases {
		var sets []string
		if tc.set != "" {
			sets = append(sets, tc.set)
		}
		c, err := config.Load(filepath.Join("..", "..", "configs", tc.file), sets...)
		require.NoError(t, err, tc.name)
		jobs, notes, err := Plan(c, goldenLayers)
		require.NoError(t, err, tc.name)
		out = append(out, fmt.Sprintf("# %s: %s %s", tc.name, tc.file, tc.set))
		for _, j := range jobs {
			out = append(out, fmt.Sprintf("%s %d %s %s %s %s %s", tc.name, j.Index, j.Layer.Name, j.Pattern, j.Method, j.Key, js(j.Params)))
		}
		out = append(out, fmt.Sprintf("%s reference %s", tc.name, js(Reference(c))))
		out = append(out, fmt.Sprintf("%s sparsegpt %s", tc.name, js(SparseGPTParams(c))))
		for _, n := range notes {
			out = append(out, fmt.Sprintf("%s note %s", tc.name, n))
		}
	}
	return out
}

// TestCellKeysGolden pins the key of every cell the shipped configs (and
// overrides of every knob) plan, so that changes to the harness keep the
// cells of sweeps already run: a resumed sweep finds them by key. The
// golden file was written from the code before the sweep axes became a
// table; regenerate it (go test -run CellKeysGolden -update) only for a
// change that is meant to invalidate cells, together with a Version bump.
func TestCellKeysGolden(t *testing.T) {
	got := strings.Join(goldenLines(t), "\n") + "\n"
	path := filepath.Join("testdata", "cell_keys.golden")
	if *updateGolden {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

// TestCellKeysGoldenCoverage guards the golden file against going vacuous:
// it must hold cells of every method, every value of every ARMOR knob, and
// a skipped block size.
func TestCellKeysGoldenCoverage(t *testing.T) {
	seen := map[string]bool{}
	notes := 0
	for _, l := range goldenLines(t) {
		f := strings.Fields(l)
		if len(f) >= 3 && f[1] == "note" {
			notes++
		}
		if len(f) != 7 || f[0] == "#" {
			continue
		}
		seen["method="+f[4]] = true
		var p cells.Params
		require.NoError(t, json.Unmarshal([]byte(f[6]), &p))
		if f[4] == "armor" {
			for _, s := range []string{"select=" + p.Select, "continuous=" + p.Continuous, "precision=" + p.Precision,
				fmt.Sprintf("groups=%d", p.GroupsPerTile), fmt.Sprintf("patience=%d", p.Patience), fmt.Sprintf("seed=%d", p.Seed)} {
				seen[s] = true
			}
		}
		seen["pattern="+f[3]] = true
	}
	for _, w := range []string{"method=magnitude", "method=wanda", "method=sparsegpt", "method=nowag", "method=armor",
		"select=gradient", "select=greedy", "select=random", "continuous=adam", "continuous=gd", "continuous=exact",
		"precision=", "precision=float32", "groups=0", "groups=-1", "groups=2", "patience=0", "patience=100",
		"seed=0", "seed=7", "pattern=2:4", "pattern=2:8", "pattern=1:4"} {
		assert.True(t, seen[w], "no golden cell with %s", w)
	}
	assert.Positive(t, notes, "no skipped block size in the golden cases")
}
