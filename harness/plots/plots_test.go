package plots

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/cells"
)

func TestWrite(t *testing.T) {
	ref := cells.Params{BlockSize: 8, Iters: 10, Select: "gradient"}
	var cs []*cells.Cell
	for _, l := range []string{"a", "b"} {
		cs = append(cs, &cells.Cell{Kind: "layer", Layer: l, Method: "nowag", ProxyLoss: 0.5})
		for _, b := range []int{8, 16} {
			for _, it := range []int{0, 10} {
				p := ref
				p.BlockSize, p.Iters = b, it
				h := make([]float64, it+1)
				for i := range h {
					h[i] = 0.5 - 0.01*float64(i*b)/16
				}
				c := &cells.Cell{Kind: "layer", Layer: l, Method: "armor", Params: p, ProxyLoss: cells.Float(h[it])}
				c.History, c.HistoryIters = cells.Downsample(h, 5)
				cs = append(cs, c)
			}
		}
	}
	dir := t.TempDir()
	paths, err := Write(dir, cs, []string{"loss_vs_iter", "loss_vs_block", "layer_loss"}, []string{"png", "svg"}, ref)
	require.NoError(t, err)
	assert.Len(t, paths, 6)
	for _, p := range paths {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(500), filepath.Base(p))
	}
	// No ARMOR cells: the ARMOR plots are skipped, not failed.
	paths, err = Write(dir, cs[:1], []string{"loss_vs_iter", "loss_vs_block"}, []string{"png"}, ref)
	require.NoError(t, err)
	assert.Empty(t, paths)
	_, err = Write(dir, cs, []string{"nope"}, []string{"png"}, ref)
	assert.Error(t, err)
	// ARMOR cells but no budget covering every layer (layer b has only b=8,
	// 10 iterations): the block-size plot has no line and is skipped — it
	// used to panic on its empty log axis.
	var partial []*cells.Cell
	for _, c := range cs {
		if c.Method == "nowag" || c.Layer == "a" || (c.Params.BlockSize == 8 && c.Params.Iters == 0) {
			partial = append(partial, c)
		}
	}
	partial = append(partial, &cells.Cell{Kind: "layer", Layer: "c", Method: "nowag", ProxyLoss: 0.5})
	paths, err = Write(dir, partial, []string{"loss_vs_block"}, []string{"png"}, ref)
	require.NoError(t, err)
	assert.Empty(t, paths)
}

// svgRects returns the filled axis-aligned rectangles of an SVG written by
// gonum/plot (bars and legend thumbnails), without the background.
func svgRects(t *testing.T, svg string) [][4]float64 {
	t.Helper()
	re := regexp.MustCompile(`<path d="M([-0-9.]+),([-0-9.]+)L([-0-9.]+),([-0-9.]+)L([-0-9.]+),([-0-9.]+)L([-0-9.]+),([-0-9.]+)Z" style="fill:#([0-9A-Fa-f]{6})"`)
	var out [][4]float64
	for _, m := range re.FindAllStringSubmatch(svg, -1) {
		var xs, ys []float64
		for k := 1; k < 9; k += 2 {
			x, err1 := strconv.ParseFloat(m[k], 64)
			y, err2 := strconv.ParseFloat(m[k+1], 64)
			require.NoError(t, err1)
			require.NoError(t, err2)
			xs, ys = append(xs, x), append(ys, y)
		}
		r := [4]float64{slices.Min(xs), slices.Min(ys), slices.Max(xs), slices.Max(ys)}
		if strings.EqualFold(m[9], "FFFFFF") {
			continue // the white background
		}
		out = append(out, r)
	}
	return out
}

// overlaps counts pairs of rectangles that share more than a hairline.
func overlaps(rs [][4]float64) int {
	n := 0
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			w := math.Min(rs[i][2], rs[j][2]) - math.Max(rs[i][0], rs[j][0])
			h := math.Min(rs[i][3], rs[j][3]) - math.Max(rs[i][1], rs[j][1])
			if w > 0.01 && h > 0.01 {
				n++
			}
		}
	}
	return n
}

func manyLayers(n int, ref cells.Params) []*cells.Cell {
	var cs []*cells.Cell
	for k := 0; k < n; k++ {
		l := fmt.Sprintf("layers.%d.mlp.down_proj", k)
		for i, m := range []string{"magnitude", "wanda", "sparsegpt", "nowag", "armor"} {
			c := &cells.Cell{Kind: "layer", Layer: l, LayerOrder: k, Method: m, ProxyLoss: cells.Float(0.1 + 0.02*float64(i) + 0.001*float64(k))}
			if m == "armor" {
				c.Params = ref
			}
			cs = append(cs, c)
		}
	}
	return cs
}

// TestLayerLossBarsDoNotOverlap counts overlapping bars (and legend
// thumbnails) in the SVG for a few layer counts; every bar must be drawn.
func TestLayerLossBarsDoNotOverlap(t *testing.T) {
	ref := cells.Params{BlockSize: 4, Iters: 10}
	for _, n := range []int{1, 12, 40} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			paths, err := Write(dir, manyLayers(n, ref), []string{"layer_loss"}, []string{"svg"}, ref)
			require.NoError(t, err)
			require.Len(t, paths, 1)
			b, err := os.ReadFile(paths[0])
			require.NoError(t, err)
			rs := svgRects(t, string(b))
			require.Equal(t, 5*n+5, len(rs), "every bar and the 5 legend thumbnails are drawn")
			assert.Zero(t, overlaps(rs), "overlapping bars")
		})
	}
}

// svgTexts returns the text elements of an SVG.
func svgTexts(svg string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`>([^<>]+)</text>`).FindAllStringSubmatch(svg, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestBlockSizeAxisLabelsEveryBlockSize: the log x axis of loss_vs_block
// carries a label at each block size run.
func TestBlockSizeAxisLabelsEveryBlockSize(t *testing.T) {
	ref := cells.Params{BlockSize: 4, Iters: 10}
	var cs []*cells.Cell
	for _, b := range []int{4, 8, 16, 32} {
		p := ref
		p.BlockSize = b
		cs = append(cs, &cells.Cell{Kind: "layer", Layer: "a", Method: "armor", Params: p, ProxyLoss: cells.Float(0.1 - 0.001*float64(b))})
	}
	paths, err := Write(t.TempDir(), cs, []string{"loss_vs_block"}, []string{"svg"}, ref)
	require.NoError(t, err)
	require.Len(t, paths, 1)
	b, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	texts := svgTexts(string(b))
	for _, want := range []string{"4", "8", "16", "32"} {
		assert.Contains(t, texts, want)
	}
}

func TestLogTicks(t *testing.T) {
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tk := range (logTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	cases := []struct {
		lo, hi float64
		want   []string
	}{
		{71, 2000, []string{"100", "200", "500", "1000", "2000"}},
		{0.005, 0.6, []string{"0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5"}},
		{0.5, 2e5, []string{"1", "10", "100", "1000", "10000", "100000"}},
		{3, 9, []string{"5"}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, labels(c.lo, c.hi), "%g..%g", c.lo, c.hi)
	}
	assert.Empty(t, (logTicks{}).Ticks(0, 1))
}

// TestPPLVsParams writes one plot per corpus from model cells, with a
// labelled point per ARMOR block size.
func TestPPLVsParams(t *testing.T) {
	var cs []*cells.Cell
	add := func(m string, b int, rel, w, ts float64) {
		cs = append(cs, &cells.Cell{Key: fmt.Sprint(m, b), Kind: "model", Method: m, Pattern: "2:4", Params: cells.Params{BlockSize: b},
			ParamsRelative: cells.Float(rel), Perplexity: map[string]float64{"wikitext2": w, "tinystories": ts}})
	}
	add("dense", 0, 1, 92.7, 8.3)
	add("wanda", 0, 0.564, 220, 95)
	add("sparsegpt", 0, 0.564, 210, 55)
	for i, b := range []int{4, 8, 16, 32} {
		add("armor", b, 0.65+0.2*float64(i), 350-10*float64(i), 100)
	}
	dir := t.TempDir()
	paths, err := Write(dir, cs, []string{"ppl_vs_params"}, []string{"svg", "png"}, cells.Params{})
	require.NoError(t, err)
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	assert.ElementsMatch(t, []string{"plot_ppl_vs_params_tinystories.svg", "plot_ppl_vs_params_tinystories.png",
		"plot_ppl_vs_params_wikitext2.svg", "plot_ppl_vs_params_wikitext2.png"}, names)
	b, err := os.ReadFile(filepath.Join(dir, "plot_ppl_vs_params_wikitext2.svg"))
	require.NoError(t, err)
	texts := svgTexts(string(b))
	for _, want := range []string{"b=4", "b=8", "b=16", "b=32", "Wanda", "SparseGPT", "dense (92.7)", "100", "200"} {
		assert.Contains(t, texts, want)
	}
	// Without model cells nothing is written.
	paths, err = Write(dir, manyLayers(2, cells.Params{}), []string{"ppl_vs_params"}, []string{"svg"}, cells.Params{})
	require.NoError(t, err)
	assert.Empty(t, paths)
}
