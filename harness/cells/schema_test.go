package cells

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docSchema parses the key table of docs/results-schema.md: key → type.
func docSchema(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "results-schema.md"))
	require.NoError(t, err)
	row := regexp.MustCompile("^\\| `([a-z0-9_<>]+)` \\| (string|integer|number|boolean|array) \\|")
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if m := row.FindStringSubmatch(l); m != nil {
			out[m[1]] = m[2]
		}
	}
	require.Greater(t, len(out), 30, "the doc's key table was not found")
	return out
}

func sampleCells() []*Cell {
	layer := &Cell{Key: "k1", Kind: "layer", Experiment: "e", Version: "v", Source: "s", SourceKind: "model",
		Layer: "layers.0.attn.q_proj", LayerID: "id", DOut: 64, DIn: 64, Method: "nowag", Pattern: "2:4",
		ProxyLoss: 0.25, OutputError: Float(math.NaN()), NonzeroFraction: 0.5, Seconds: 1.5}
	armor := *layer
	armor.Key, armor.Method = "k2", "armor"
	armor.Params = Params{BlockSize: 4, Iters: 100, LR: 1e-4, Select: "gradient", Continuous: "adam", Patience: 100}
	armor.History, armor.HistoryIters = []float64{0.25, 0.2}, []int{0, 100}
	model := &Cell{Key: "k3", Kind: "model", Experiment: "e", Version: "v", Layer: "model", Method: "armor",
		Pattern: "2:4", Protocol: "dense", Params: Params{BlockSize: 8, Iters: 0, Layers: "all"},
		ProxyLoss: 0.1, OutputError: 0.05, NonzeroFraction: 0.5, OverheadFraction: 0.1,
		Perplexity: map[string]float64{"wikitext2": 1000.5, "tinystories": 9.5}, Windows: map[string]int{"wikitext2": 64, "tinystories": 3},
		ParamsStored: 200000, ParamsDense: 260000, ParamsRelative: Float(200000.0 / 260000), StoredBytes: 812345,
		EvalWindow: 256, MaxWindows: 64}
	return []*Cell{layer, &armor, model}
}

// TestSchemaIsTheDocumentedOne checks that every line of cells.jsonl has
// exactly the keys docs/results-schema.md lists, with the documented JSON
// types, whatever the cell's kind.
func TestSchemaIsTheDocumentedOne(t *testing.T) {
	doc := docSchema(t)
	for _, c := range sampleCells() {
		b, err := json.Marshal(c)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		var got []string
		for k, v := range m {
			name := k
			switch {
			case strings.HasPrefix(k, PerplexityPrefix):
				name = PerplexityPrefix + "<corpus>"
			case strings.HasPrefix(k, WindowsPrefix):
				name = WindowsPrefix + "<corpus>"
			}
			typ, ok := doc[name]
			if !assert.True(t, ok, "%s cell: key %q is not documented", c.Kind, k) {
				continue
			}
			got = append(got, name)
			if v == nil {
				continue
			}
			switch typ {
			case "string":
				assert.IsType(t, "", v, k)
			case "boolean":
				assert.IsType(t, true, v, k)
			case "array":
				assert.IsType(t, []any{}, v, k)
			case "number":
				assert.IsType(t, 0.0, v, k)
			case "integer":
				if assert.IsType(t, 0.0, v, k) {
					assert.Equal(t, math.Trunc(v.(float64)), v.(float64), "%s is an integer", k)
				}
			}
		}
		var want []string
		for k := range doc {
			if c.Kind == "model" || !strings.Contains(k, "<corpus>") {
				want = append(want, k)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if c.Kind == "model" {
			// Two corpora: each per-corpus key twice.
			want = append(want, PerplexityPrefix+"<corpus>", WindowsPrefix+"<corpus>")
			sort.Strings(want)
		}
		assert.Equal(t, want, got, "%s cell: keys differ from the doc", c.Kind)
	}
}

// TestFlatRoundTrip writes and reads every sample cell: the same cell comes
// back, iters 0 is written (not dropped) and nothing is nested.
func TestFlatRoundTrip(t *testing.T) {
	for _, c := range sampleCells() {
		b, err := json.Marshal(c)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"iters":`)
		assert.NotContains(t, string(b), `"params":`)
		var back Cell
		require.NoError(t, json.Unmarshal(b, &back))
		same, field := SameNumbers(c, &back)
		assert.True(t, same, "%s differs after a round trip: %s\n%s", c.Key, field, b)
		assert.Equal(t, c.Perplexity, back.Perplexity)
		assert.Equal(t, c.Windows, back.Windows)
		assert.Equal(t, c.Params, back.Params)
	}
	bad := *sampleCells()[2]
	bad.Perplexity = map[string]float64{"WikiText-2 test": 1}
	_, err := json.Marshal(bad)
	assert.ErrorContains(t, err, "WikiText-2 test")
}

// TestReadsNestedForm reads a line in the form written before the flat one.
func TestReadsNestedForm(t *testing.T) {
	line := `{"key":"x","kind":"model","experiment":"llama","source":"s","source_kind":"model","layer":"model","layer_order":0,` +
		`"method":"armor","pattern":"2:4","params":{"block_size":4,"iters":2000,"lr":0.0001,"select":"gradient","continuous":"adam","patience":100,"layers":"all 35"},` +
		`"proxy_loss":0.1,"output_error":null,"nonzero_fraction":0.5,"overhead_fraction":0.1,"iterations":2000,` +
		`"perplexity":{"WikiText-2 test":1234.5},"params_relative":0.65,"seconds":3,"version":"v9"}`
	var c Cell
	require.NoError(t, json.Unmarshal([]byte(line), &c))
	assert.Equal(t, Params{BlockSize: 4, Iters: 2000, LR: 1e-4, Select: "gradient", Continuous: "adam", Patience: 100, Layers: "all 35"}, c.Params)
	assert.Equal(t, 1234.5, c.Perplexity["WikiText-2 test"])
	assert.True(t, math.IsNaN(float64(c.OutputError)))
	assert.Equal(t, 0.65, float64(c.ParamsRelative))
}

func TestStoredBytes(t *testing.T) {
	cases := []struct {
		params, kept int64
		m            int
		want         int64
	}{
		{100, 0, 4, 400},  // dense
		{100, 50, 4, 413}, // 50 kept × 2 bits = 100 bits → 13 bytes
		{100, 4, 4, 401},  // 8 bits
		{100, 8, 8, 403},  // 3 bits each for 2:8... 24 bits
		{100, 3, 16, 402}, // 4 bits × 3 = 12 bits → 2 bytes
	}
	for _, c := range cases {
		assert.Equal(t, c.want, StoredBytes(c.params, c.kept, c.m), "%+v", c)
	}
}

func TestColumnName(t *testing.T) {
	for in, want := range map[string]string{"WikiText-2 test": "wikitext-2_test", "TinyStories val (eval half)": "tinystories_val_eval_half", "wiki": "wiki", "  a  b ": "a_b"} {
		assert.Equal(t, want, ColumnName(in), in)
	}
}
