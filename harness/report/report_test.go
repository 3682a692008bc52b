package report

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/cells"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var ref = cells.Params{BlockSize: 16, Iters: 100, LR: 1e-4, Select: "gradient", Continuous: "adam", Patience: 100}

// handMade returns a small, fixed set of cells covering every table: two
// layers, every method, ARMOR at two block sizes and two budgets, and model
// cells with perplexities.
func handMade() []*cells.Cell {
	var cs []*cells.Cell
	order := 0
	layer := func(name string, dOut, dIn int, method string, p cells.Params, loss, oerr, over float64, hist []float64) {
		c := &cells.Cell{Key: name + method, Kind: "layer", Experiment: "golden", Layer: name, LayerOrder: order, DOut: dOut, DIn: dIn,
			Method: method, Pattern: "2:4", Params: p, ProxyLoss: cells.Float(loss), OutputError: cells.Float(oerr),
			NonzeroFraction: 0.5, OverheadFraction: cells.Float(over)}
		if hist != nil {
			c.History, c.HistoryIters = cells.Downsample(hist, 10)
		}
		cs = append(cs, c)
	}
	for k, l := range []struct {
		name      string
		dOut, dIn int
	}{{"layers.0.q_proj", 64, 64}, {"layers.0.down_proj", 64, 172}} {
		s := float64(k + 1)
		order = k
		layer(l.name, l.dOut, l.dIn, "magnitude", cells.Params{}, 0.30*s, 0.28*s, 0, nil)
		layer(l.name, l.dOut, l.dIn, "wanda", cells.Params{}, 0.012*s, 0.011*s, 0, nil)
		layer(l.name, l.dOut, l.dIn, "sparsegpt", cells.Params{LazyBlock: 128, Damp: 0.01}, 0.014*s, 0.009*s, 0, nil)
		layer(l.name, l.dOut, l.dIn, "nowag", cells.Params{}, 0.011*s, 0.012*s, 0, nil)
		for _, b := range []int{16, 32} {
			for _, it := range []int{0, 100} {
				p := ref
				p.BlockSize, p.Iters = b, it
				loss := 0.011 * s
				var hist []float64
				if it > 0 {
					loss = 0.011 * s * (1 - float64(b)/100)
					hist = make([]float64, it+1)
					for i := range hist {
						hist[i] = 0.011 * s * (1 - float64(b)/100*float64(i)/float64(it))
					}
				}
				over := float64(b) * float64(l.dIn+l.dOut) / float64(l.dIn*l.dOut)
				layer(l.name, l.dOut, l.dIn, "armor", p, loss, loss*1.1, over, hist)
			}
		}
	}
	// A NaN output error must print as a dash.
	cs[1].OutputError = cells.Float(math.NaN())
	model := func(method string, p cells.Params, wiki, tiny, rel float64) {
		stored := int64(math.Round(rel * 260000))
		cs = append(cs, &cells.Cell{Key: "m" + method + fmt.Sprint(p.BlockSize), Kind: "model", Experiment: "golden", Method: method, Pattern: "2:4",
			Params: p, Perplexity: map[string]float64{"wikitext2": wiki, "tinystories": tiny}, ParamsRelative: cells.Float(rel),
			ParamsStored: stored, ParamsDense: 260000, StoredBytes: 4*stored + stored/8, EvalWindow: 256, MaxWindows: 64,
			Windows: map[string]int{"wikitext2": 64, "tinystories": 64}})
	}
	model("dense", cells.Params{}, 5.12, 3.10, 1)
	model("sparsegpt", cells.Params{}, 10.16, 5.2, 0.5)
	model("wanda", cells.Params{}, 11.35, 5.0, 0.5)
	model("nowag", cells.Params{}, 11.14, 5.1, 0.5)
	model("armor", ref, 7.21, 4.05, 0.52)
	big := ref
	big.BlockSize = 32
	model("armor", big, 6.01, 3.55, 0.61)
	return cs
}

func TestGolden(t *testing.T) {
	ts := Build(handMade(), Options{ARMOR: ref})
	require.Len(t, ts, 4)
	for _, tb := range ts {
		for _, f := range []struct {
			ext    string
			render func(*Table) string
		}{{"md", Markdown}, {"csv", CSV}, {"tex", LaTeX}} {
			name := filepath.Join("testdata", "table_"+tb.Name+"."+f.ext+".golden")
			got := f.render(tb)
			if *update {
				require.NoError(t, os.MkdirAll("testdata", 0o755))
				require.NoError(t, os.WriteFile(name, []byte(got), 0o644))
				continue
			}
			want, err := os.ReadFile(name)
			require.NoError(t, err, "run go test ./harness/report -update to create the golden files")
			assert.Equal(t, string(want), got, name)
		}
	}
}

func TestGapClosed(t *testing.T) {
	tests := []struct {
		name               string
		dense, best, armor float64
		want               float64
	}{
		{"half", 5, 11, 8, 0.5},
		{"all", 5, 11, 5, 1},
		{"none", 5, 11, 11, 0},
		{"worse", 5, 11, 12, -1.0 / 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]*cells.Cell{
				"dense": {Perplexity: map[string]float64{"w": tc.dense}},
				"wanda": {Perplexity: map[string]float64{"w": tc.best + 1}},
				"nowag": {Perplexity: map[string]float64{"w": tc.best}},
				"armor": {Perplexity: map[string]float64{"w": tc.armor}},
			}
			assert.InDelta(t, tc.want, GapClosed(m, "w"), 1e-12)
		})
	}
	assert.True(t, math.IsNaN(GapClosed(map[string]*cells.Cell{"armor": {Perplexity: map[string]float64{"w": 1}}}, "w")))
}

func TestBuildEmpty(t *testing.T) {
	assert.Empty(t, Build(nil, Options{}))
	ts := Build(handMade(), Options{Tables: []string{"layers"}, ARMOR: ref})
	require.Len(t, ts, 1)
	assert.Equal(t, "layers", ts[0].Name)
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	ts := Build(handMade(), Options{ARMOR: ref})
	paths, err := Write(dir, ts, []string{"markdown", "csv", "latex"}, "## header", nil)
	require.NoError(t, err)
	assert.Len(t, paths, 4*3+1)
	b, err := os.ReadFile(filepath.Join(dir, "tables.md"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "## header")
}
