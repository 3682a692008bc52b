package cost

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/report"
	"github.com/prunebench/armor/infer"
)

var ref = cells.Params{BlockSize: 16, Iters: 100}

// sweepCells is every method on a 64×64 and a 64×172 layer, ARMOR at block
// sizes 16 and 32.
func sweepCells() []*cells.Cell {
	var cs []*cells.Cell
	for order, sh := range [][2]int{{64, 64}, {64, 172}} {
		name := []string{"q_proj", "down_proj"}[order]
		add := func(method string, p cells.Params) {
			cs = append(cs, &cells.Cell{Key: name + method + p.Precision, Kind: "layer", Layer: name, LayerOrder: order,
				DOut: sh[0], DIn: sh[1], Method: method, Pattern: "2:4", Params: p, ProxyLoss: 0.1, OutputError: 0.1})
		}
		for _, m := range []string{"magnitude", "wanda", "sparsegpt", "nowag"} {
			add(m, cells.Params{})
		}
		for _, b := range []int{16, 32} {
			p := ref
			p.BlockSize = b
			add("armor", p)
		}
	}
	return cs
}

// Hand-computed stored bytes over dense (4 bytes per dense weight):
//
//	64×64 2:4: 64 rows × 32 kept × 4 B + 64 rows × ⌈32·2 bit / 8⌉ = 8192 + 512 = 8704 of 16384.
//	64×172 2:4: 64 × 86 × 4 + 64 × ⌈172 bit / 8⌉ = 22016 + 64·22 = 23424 of 44032.
//	ARMOR b=16 adds A (d_out) and B (d_in) diagonal blocks of f32:
//	  64×64: (4·16² + 4·16²)·4 = 8192 → 16896 of 16384.
//	  64×172: (4·16² + (10·16² + 12²))·4 = (1024 + 2704)·4 = 14912 → 38336 of 44032.
//	ARMOR b=32 on 64×172: (2·32² + (5·32² + 12²))·4 = (2048 + 5264)·4 = 29248 → 52672 of 44032.
var handBytes = map[report.CostKey]float64{
	{Format: "2:4", DOut: 64, DIn: 64}:               8704.0 / 16384,
	{Format: "2:4", DOut: 64, DIn: 172}:              23424.0 / 44032,
	{Format: "armor", DOut: 64, DIn: 64, Block: 16}:  16896.0 / 16384,
	{Format: "armor", DOut: 64, DIn: 172, Block: 16}: 38336.0 / 44032,
	{Format: "armor", DOut: 64, DIn: 172, Block: 32}: 52672.0 / 44032,
}

// fake is a deterministic stand-in for timing that counts its calls.
type fake struct{ calls []report.CostKey }

func (f *fake) measure(k report.CostKey) (infer.Cost, error) {
	f.calls = append(f.calls, k)
	if k.Format == "armor" {
		return infer.Cost{DecodeSpeedup: 1.25}, nil
	}
	return infer.Cost{DecodeSpeedup: 1.5}, nil
}

func TestForBytesAndCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := &fake{}
	got, err := For(sweepCells(), path, true, f.measure)
	require.NoError(t, err)
	require.Len(t, got, 6, "2:4 and ARMOR b=16, 32 on two shapes")
	for k, want := range handBytes {
		assert.InDelta(t, want, got[k].BytesVsDense, 1e-12, "%s", k)
	}
	assert.Equal(t, 1.5, got[report.CostKey{Format: "2:4", DOut: 64, DIn: 64}].DecodeSpeedup)
	assert.Len(t, f.calls, 6, "each distinct (shape, format, block) measured once")
	assert.True(t, slices.IsSortedFunc(f.calls, report.CompareCostKeys), "measured in a fixed order: %v", f.calls)

	var file File
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &file))
	require.Len(t, file.Entries, 6)
	assert.Equal(t, report.CostKey{Format: "2:4", DOut: 64, DIn: 64}, file.Entries[0].CostKey) // "2:4" sorts before "armor"
	assert.Equal(t, 1.25, file.Entries[5].DecodeSpeedup)

	// A second render reads the cache and measures nothing.
	f2 := &fake{}
	again, err := For(sweepCells(), path, true, f2.measure)
	require.NoError(t, err)
	assert.Empty(t, f2.calls)
	assert.Equal(t, got, again)

	// Without measurement: bytes only, no speedups, the file untouched.
	none, err := For(sweepCells(), filepath.Join(t.TempDir(), FileName), false, f2.measure)
	require.NoError(t, err)
	assert.Empty(t, f2.calls)
	for k, want := range handBytes {
		assert.InDelta(t, want, none[k].BytesVsDense, 1e-12)
		assert.Zero(t, none[k].DecodeSpeedup)
	}
}

func TestForBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o644))
	_, err := For(sweepCells(), path, true, (&fake{}).measure)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
}

// TestTablesHaveCostColumns renders the tables with costs: every method of
// the layer table gets a Bytes and a Speedup row per layer, every block-size
// row its mean bytes and speedup.
func TestTablesHaveCostColumns(t *testing.T) {
	cs := sweepCells()
	costs, err := For(cs, filepath.Join(t.TempDir(), FileName), true, (&fake{}).measure)
	require.NoError(t, err)
	ts := report.Build(cs, report.Options{ARMOR: ref, Costs: costs, Tables: []string{"layers", "block_size"}})
	require.Len(t, ts, 2)

	layers := ts[0]
	require.Equal(t, "layers", layers.Name)
	methods := layers.Header[3:]
	require.Len(t, methods, 5, "magnitude, sparsegpt, wanda, nowag, armor: %v", layers.Header)
	rows := map[string][]report.Cell{}
	for _, r := range layers.Rows {
		rows[r[0].Text+"/"+r[2].Text] = r
	}
	for _, l := range []string{"q_proj", "down_proj"} {
		b, sp := rows[l+"/Bytes"], rows[l+"/Speedup"]
		require.NotNil(t, b, "bytes row of %s", l)
		require.NotNil(t, sp, "speedup row of %s", l)
		for i, m := range methods {
			assert.True(t, b[3+i].HasValue, "%s bytes of %s", l, m)
			assert.True(t, sp[3+i].HasValue, "%s speedup of %s", l, m)
		}
	}
	assert.InDelta(t, 8704.0/16384, rows["q_proj/Bytes"][3].Value, 1e-12)
	assert.InDelta(t, 38336.0/44032, rows["down_proj/Bytes"][7].Value, 1e-12, "ARMOR b=16 column")
	assert.Equal(t, "1.25×", rows["down_proj/Speedup"][7].Text)
	md := report.Markdown(layers)
	assert.Regexp(t, `\| q_proj +\| 64×64 +\| Bytes +\| +0\.531 \|`, md)
	assert.Regexp(t, `\| +1\.031 \|\n`, md, "ARMOR b=16 on 64×64: 16896/16384")

	bt := ts[1]
	require.Equal(t, "block_size", bt.Name)
	n := len(bt.Header)
	assert.Equal(t, []string{"Bytes", "Speedup"}, bt.Header[n-2:])
	byB := map[string][]report.Cell{}
	for _, r := range bt.Rows {
		byB[r[0].Text] = r
	}
	require.Len(t, byB, 3, "NoWag-P, b=16, b=32: %v", bt.Rows)
	assert.InDelta(t, (8704.0/16384+23424.0/44032)/2, byB["0 (NoWag-P)"][n-2].Value, 1e-12)
	assert.InDelta(t, (16896.0/16384+38336.0/44032)/2, byB["16"][n-2].Value, 1e-12)
	for _, r := range bt.Rows {
		assert.False(t, r[n-2].Best || r[n-1].Best, "cost columns are not marked best")
	}

	// Without costs, no cost rows or columns.
	plain := report.Build(cs, report.Options{ARMOR: ref, Tables: []string{"layers", "block_size"}})
	for _, r := range plain[0].Rows {
		assert.NotContains(t, []string{"Bytes", "Speedup"}, r[2].Text)
	}
	assert.False(t, strings.Contains(strings.Join(plain[1].Header, " "), "Bytes"))
}

func modelCells() []*cells.Cell {
	mk := func(method string, b int) *cells.Cell {
		p := cells.Params{Layers: "all"}
		if method == "armor" {
			p = ref
			p.BlockSize = b
		}
		return &cells.Cell{Key: method + fmt.Sprint(b), Kind: "model", Method: method, Pattern: "2:4", Params: p,
			Perplexity: map[string]float64{"wikitext2": 10}, ParamsStored: 100, StoredBytes: 400}
	}
	return []*cells.Cell{mk("dense", 0), mk("wanda", 0), mk("sparsegpt", 0), mk("armor", 4), mk("armor", 16)}
}

func TestModelSpeedupsAndColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	var calls []report.CostKey
	measure := func(k report.CostKey) (float64, error) {
		calls = append(calls, k)
		return 1 + float64(k.Block)/100, nil
	}
	got, err := ModelSpeedups(modelCells(), "m", path, measure)
	require.NoError(t, err)
	assert.Equal(t, map[report.CostKey]float64{{Format: "dense"}: 1, {Format: "2:4"}: 1, {Format: "armor", Block: 4}: 1.04, {Format: "armor", Block: 16}: 1.16}, got)
	assert.Len(t, calls, 3, "2:4 once for every pruning method, ARMOR per block size; dense not timed")

	// Layer costs written later keep the model entries, and vice versa.
	_, err = For(sweepCells(), path, true, (&fake{}).measure)
	require.NoError(t, err)
	f, err := Read(path)
	require.NoError(t, err)
	assert.Len(t, f.Models, 3)
	assert.Len(t, f.Entries, 6)
	calls = nil
	again, err := ModelSpeedups(modelCells(), "m", path, measure)
	require.NoError(t, err)
	assert.Empty(t, calls, "cached")
	assert.Equal(t, got, again)
	_, err = ModelSpeedups(modelCells(), "other model", path, measure)
	require.NoError(t, err)
	assert.Len(t, calls, 3, "another checkpoint is measured anew")

	ts := report.Build(modelCells(), report.Options{ARMOR: ref, ModelSpeedups: got, Tables: []string{"perplexity"}})
	require.Len(t, ts, 1)
	pt := ts[0]
	col := slices.Index(pt.Header, "Decode")
	require.Positive(t, col, "%v", pt.Header)
	assert.Equal(t, "PPL WikiText-2", pt.Header[col+1])
	for _, r := range pt.Rows {
		assert.True(t, r[col].HasValue, "%s has a decode speedup", r[0].Text)
	}
	assert.Equal(t, "1.16×", pt.Rows[len(pt.Rows)-1][col].Text)
	plain := report.Build(modelCells(), report.Options{ARMOR: ref, Tables: []string{"perplexity"}})
	assert.NotContains(t, plain[0].Header, "Decode")
}
