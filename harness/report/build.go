package report

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/infer"
)

// Options choose which tables to build and which ARMOR setting represents
// ARMOR where only one can be shown.
type Options struct {
	// Tables to build, by name (layers, block_size, iters, perplexity);
	// empty means all.
	Tables []string
	// ARMOR is the reference ARMOR setting: the per-layer table shows the
	// ARMOR cells with exactly these params; the block-size table varies
	// BlockSize and the iteration table BlockSize and Iters.
	ARMOR cells.Params
	// Costs, when not nil, adds cost rows to the layer table and cost
	// columns to the block-size table (see CostKeys and harness/cost).
	Costs map[CostKey]infer.Cost
	// ModelSpeedups, when not nil, adds the measured whole-model decode
	// speedup over dense to the perplexity table, by ModelCostKey.
	ModelSpeedups map[CostKey]float64
}

// MethodOrder is the column order of methods, and DisplayName their names
// in tables.
var (
	MethodOrder = []string{"dense", "magnitude", "sparsegpt", "wanda", "nowag", "armor"}
	DisplayName = map[string]string{"dense": "Dense", "magnitude": "Magnitude", "wanda": "Wanda", "sparsegpt": "SparseGPT", "nowag": "NoWag-P", "armor": "ARMOR"}
)

// Build returns the requested tables that have data, in the standard order.
func Build(cs []*cells.Cell, opt Options) []*Table {
	want := func(n string) bool { return len(opt.Tables) == 0 || slices.Contains(opt.Tables, n) }
	var out []*Table
	if want("layers") {
		if t := LayerTable(cs, opt.ARMOR, opt.Costs); t != nil {
			out = append(out, t)
		}
	}
	if want("block_size") {
		if t := BlockSizeTable(cs, opt.ARMOR, opt.Costs); t != nil {
			out = append(out, t)
		}
	}
	if want("iters") {
		if t := ItersTable(cs, opt.ARMOR); t != nil {
			out = append(out, t)
		}
	}
	if want("perplexity") {
		if t := PerplexityTable(cs, opt.ARMOR, opt.ModelSpeedups); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// armorMatch reports whether an ARMOR cell has params p, ignoring the
// fields named in free.
func armorMatch(c *cells.Cell, p cells.Params, free ...string) bool {
	q := c.Params
	q.Layers = p.Layers // what a model cell pruned, not an ARMOR setting
	for _, f := range free {
		switch f {
		case "block_size":
			q.BlockSize = p.BlockSize
		case "iters":
			q.Iters = p.Iters
		}
	}
	return q == p
}

type layerInfo struct {
	name      string
	dOut, dIn int
	order     int
}

// layersOf lists the layers of the layer cells in source order (then by
// name).
func layersOf(cs []*cells.Cell) []layerInfo {
	var out []layerInfo
	seen := map[string]bool{}
	for _, c := range cs {
		if c.Kind == "layer" && !seen[c.Layer] {
			seen[c.Layer] = true
			out = append(out, layerInfo{c.Layer, c.DOut, c.DIn, c.LayerOrder})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].order != out[j].order {
			return out[i].order < out[j].order
		}
		return out[i].name < out[j].name
	})
	return out
}

// MaxLayerColumns bounds the per-layer columns of the block-size table;
// with more layers only the means are shown.
const MaxLayerColumns = 6

// coverage labels a mean over k of n layers.
func coverage(k, n int) string {
	if k == n {
		return ""
	}
	return fmt.Sprintf(" (%d/%d layers)", k, n)
}

func armorLabel(p cells.Params) string {
	return fmt.Sprintf("ARMOR (b=%d, %d it)", p.BlockSize, p.Iters)
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// LayerTable is table 1: for every layer a proxy-loss row and an
// output-error row, one column per method, the best per row in bold, and
// the mean over layers at the bottom. With costs, every layer also gets a
// row of stored bytes relative to dense and one of measured decode speedup
// (not marked best). Nil when there are no layer cells.
func LayerTable(cs []*cells.Cell, ref cells.Params, costs map[CostKey]infer.Cost) *Table {
	layers := layersOf(cs)
	if len(layers) == 0 {
		return nil
	}
	type lm struct{ layer, method string }
	vals := map[lm]*cells.Cell{}
	present := map[string]bool{}
	for _, c := range cs {
		if c.Kind != "layer" {
			continue
		}
		if c.Method == "armor" && !armorMatch(c, ref) {
			continue
		}
		if _, dup := vals[lm{c.Layer, c.Method}]; !dup {
			vals[lm{c.Layer, c.Method}] = c
		}
		present[c.Method] = true
	}
	var ms []string
	for _, m := range MethodOrder {
		if present[m] {
			ms = append(ms, m)
		}
	}
	t := &Table{Name: "layers", Title: "Per-layer proxy loss L and output error E (lower is better; best per row in bold)",
		Header: []string{"Layer", "Shape", "Metric"}}
	for _, m := range ms {
		h := DisplayName[m]
		if m == "armor" {
			h = armorLabel(ref)
		}
		t.Header = append(t.Header, h)
	}
	cols := make([]int, len(ms))
	for i := range ms {
		cols[i] = 3 + i
	}
	sums := [2][]([]float64){make([][]float64, len(ms)), make([][]float64, len(ms))}
	for _, l := range layers {
		for k, metric := range []string{"L", "E"} {
			row := []Cell{Text(l.name), Text(fmt.Sprintf("%d×%d", l.dOut, l.dIn)), Text(metric)}
			for i, m := range ms {
				v := math.NaN()
				if c := vals[lm{l.name, m}]; c != nil {
					v = float64(c.ProxyLoss)
					if k == 1 {
						v = float64(c.OutputError)
					}
				}
				if !math.IsNaN(v) {
					sums[k][i] = append(sums[k][i], v)
				}
				row = append(row, Loss(v))
			}
			markBest(row, cols)
			t.Rows = append(t.Rows, row)
		}
		if costs == nil {
			continue
		}
		br := []Cell{Text(l.name), Text(fmt.Sprintf("%d×%d", l.dOut, l.dIn)), Text("Bytes")}
		sr := []Cell{Text(l.name), Text(fmt.Sprintf("%d×%d", l.dOut, l.dIn)), Text("Speedup")}
		for _, m := range ms {
			b, sp := costOf(costs, vals[lm{l.name, m}])
			br = append(br, Num(b, "%.3f"))
			sr = append(sr, Num(sp, "%.2f×"))
		}
		t.Rows = append(t.Rows, br, sr)
	}
	if len(layers) > 1 {
		for k, metric := range []string{"L", "E"} {
			row := []Cell{Text("mean"), Text(""), Text(metric)}
			for i := range ms {
				v := math.NaN()
				if len(sums[k][i]) == len(layers) {
					v = mean(sums[k][i])
				}
				row = append(row, Loss(v))
			}
			markBest(row, cols)
			t.Rows = append(t.Rows, row)
		}
	}
	t.Notes = []string{"L: proxy (NoWag) loss relative to pruning the whole layer; E: relative output error ||XWᵀ − XŴᵀ||²/||XWᵀ||² on the calibration activations."}
	if costs != nil {
		t.Notes = append(t.Notes, costNote)
	}
	return t
}

// BlockSizeTable is table 2: one row per ARMOR block size (NoWag-P as b = 0
// first), with the mean parameter overhead of the wrappers, the proxy loss
// per layer and the mean proxy loss and output error, and with costs the
// mean stored bytes relative to dense and mean decode speedup over the
// layers. Nil without ARMOR cells.
func BlockSizeTable(cs []*cells.Cell, ref cells.Params, costs map[CostKey]infer.Cost) *Table {
	layers := layersOf(cs)
	byB := map[int]map[string]*cells.Cell{}
	nowag := map[string]*cells.Cell{}
	for _, c := range cs {
		if c.Kind != "layer" {
			continue
		}
		switch {
		case c.Method == "nowag":
			nowag[c.Layer] = c
		case c.Method == "armor" && armorMatch(c, ref, "block_size"):
			if byB[c.Params.BlockSize] == nil {
				byB[c.Params.BlockSize] = map[string]*cells.Cell{}
			}
			byB[c.Params.BlockSize][c.Layer] = c
		}
	}
	if len(byB) == 0 {
		return nil
	}
	bs := make([]int, 0, len(byB))
	for b := range byB {
		bs = append(bs, b)
	}
	sort.Ints(bs)
	t := &Table{Name: "block_size", Title: fmt.Sprintf("ARMOR proxy loss by block size b (%d iterations); b = 0 is NoWag-P", ref.Iters),
		Header: []string{"b", "Overhead %"}}
	perLayer := len(layers) <= MaxLayerColumns
	if perLayer {
		for _, l := range layers {
			t.Header = append(t.Header, l.name)
		}
	}
	t.Header = append(t.Header, "Mean L", "Mean E")
	lossEnd := len(t.Header) // columns 2..lossEnd-1 are losses
	if costs != nil {
		t.Header = append(t.Header, "Bytes", "Speedup")
	}
	mk := func(label string, m map[string]*cells.Cell) []Cell {
		row := []Cell{Text(label)}
		var ov, ls, es []float64
		for _, l := range layers {
			if c := m[l.name]; c != nil {
				ov = append(ov, 100*float64(c.OverheadFraction))
				ls = append(ls, float64(c.ProxyLoss))
				es = append(es, float64(c.OutputError))
			}
		}
		row[0].Text += coverage(len(ls), len(layers))
		row = append(row, Num(mean(ov), "%.2f"))
		if perLayer {
			for _, l := range layers {
				v := math.NaN()
				if c := m[l.name]; c != nil {
					v = float64(c.ProxyLoss)
				}
				row = append(row, Loss(v))
			}
		}
		row = append(row, Loss(mean(ls)), Loss(mean(es)))
		if costs != nil {
			var bs, sps []float64
			for _, l := range layers {
				b, sp := costOf(costs, m[l.name])
				if m[l.name] != nil {
					bs, sps = append(bs, b), append(sps, sp)
				}
			}
			row = append(row, Num(mean(bs), "%.3f"), Num(mean(sps), "%.2f×"))
		}
		return row
	}
	if len(nowag) > 0 {
		t.Rows = append(t.Rows, mk("0 (NoWag-P)", nowag))
	}
	for _, b := range bs {
		t.Rows = append(t.Rows, mk(fmt.Sprint(b), byB[b]))
	}
	// Best per column: mark the lowest loss of each layer column and mean.
	for col := 2; col < lossEnd; col++ {
		best := math.Inf(1)
		for _, r := range t.Rows {
			if r[col].HasValue && r[col].Value < best {
				best = r[col].Value
			}
		}
		for _, r := range t.Rows {
			if r[col].HasValue && r[col].Value == best {
				r[col].Best = true
			}
		}
	}
	t.Notes = []string{"Overhead: parameters of A's and B's diagonal blocks relative to d_out·d_in, mean over layers (≈ b(d_in+d_out)/(d_in·d_out)). Means are over the layers the block size fits (b larger than both dimensions of a layer is not run). Lowest loss per column in bold."}
	if costs != nil {
		t.Notes = append(t.Notes, "Bytes and Speedup: means over the layers of the row. "+costNote)
	}
	return t
}

// ItersTable is table 3: mean proxy loss over layers by iteration budget
// (rows) and block size (columns). Nil unless ARMOR ran with more than one
// budget.
func ItersTable(cs []*cells.Cell, ref cells.Params) *Table {
	layers := layersOf(cs)
	type ib struct{ it, b int }
	vals := map[ib][]float64{}
	its, bs := map[int]bool{}, map[int]bool{}
	var nowag []float64
	for _, c := range cs {
		if c.Kind != "layer" {
			continue
		}
		if c.Method == "nowag" {
			nowag = append(nowag, float64(c.ProxyLoss))
		}
		if c.Method == "armor" && armorMatch(c, ref, "block_size", "iters") {
			k := ib{c.Params.Iters, c.Params.BlockSize}
			vals[k] = append(vals[k], float64(c.ProxyLoss))
			its[c.Params.Iters], bs[c.Params.BlockSize] = true, true
		}
	}
	if len(its) < 2 {
		return nil
	}
	itl, bl := sortedKeys(its), sortedKeys(bs)
	t := &Table{Name: "iters", Title: "ARMOR mean proxy loss over layers by iteration budget and block size b", Header: []string{"Iterations"}}
	for _, b := range bl {
		n := 0
		for _, it := range itl {
			n = max(n, len(vals[ib{it, b}]))
		}
		t.Header = append(t.Header, fmt.Sprintf("b=%d%s", b, coverage(n, len(layers))))
	}
	if len(nowag) == len(layers) && !its[0] {
		row := []Cell{Text("NoWag-P")}
		for range bl {
			row = append(row, Loss(mean(nowag)))
		}
		t.Rows = append(t.Rows, row)
	}
	cols := make([]int, len(bl))
	for i := range bl {
		cols[i] = i + 1
	}
	for _, it := range itl {
		row := []Cell{Text(fmt.Sprint(it))}
		for _, b := range bl {
			row = append(row, Loss(mean(vals[ib{it, b}])))
		}
		markBest(row, cols)
		t.Rows = append(t.Rows, row)
	}
	t.Notes = []string{"0 iterations is NoWag-P's solution (ARMOR's initialization). Best block size per budget in bold."}
	return t
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// CorpusLabel is the display name of a corpus column name in tables.
var CorpusLabel = map[string]string{"wikitext2": "WikiText-2", "tinystories": "TinyStories"}

func corpusLabel(c string) string {
	if l, ok := CorpusLabel[c]; ok {
		return l
	}
	return c
}

// modelLabel names a model cell's row: the method, with ARMOR's block size
// and budget.
func modelLabel(c *cells.Cell) string {
	if c.Method == "armor" {
		return fmt.Sprintf("ARMOR b=%d, %d it", c.Params.BlockSize, c.Params.Iters)
	}
	return DisplayName[c.Method]
}

// modelCells returns the model cells with perplexities, one per method and
// setting (the first of duplicates), in MethodOrder, ARMOR by block size and
// budget, and the sorted corpus names.
func modelCells(cs []*cells.Cell) ([]*cells.Cell, []string) {
	seen := map[string]bool{}
	corpora := map[string]bool{}
	var out []*cells.Cell
	for _, c := range cs {
		if c.Kind != "model" || len(c.Perplexity) == 0 {
			continue
		}
		id := c.Method + "|" + c.Pattern + "|" + fmt.Sprint(c.Params)
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, c)
		for k := range c.Perplexity {
			corpora[k] = true
		}
	}
	rank := map[string]int{}
	for i, m := range MethodOrder {
		rank[m] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if rank[a.Method] != rank[b.Method] {
			return rank[a.Method] < rank[b.Method]
		}
		if a.Params.BlockSize != b.Params.BlockSize {
			return a.Params.BlockSize < b.Params.BlockSize
		}
		return a.Params.Iters < b.Params.Iters
	})
	names := make([]string, 0, len(corpora))
	for k := range corpora {
		names = append(names, k)
	}
	sort.Strings(names)
	return out, names
}

// ModelCells is modelCells for other packages (plots): every model cell with
// perplexities, one per setting, in table order, and the corpus names.
func ModelCells(cs []*cells.Cell) ([]*cells.Cell, []string) { return modelCells(cs) }

// humanCount prints a parameter count with a k/M/G suffix.
func humanCount(n int64) string {
	switch v := float64(n); {
	case n <= 0:
		return "—"
	case v < 1e3:
		return fmt.Sprint(n)
	case v < 1e6:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v < 1e9:
		return fmt.Sprintf("%.2fM", v/1e6)
	default:
		return fmt.Sprintf("%.2fG", v/1e9)
	}
}

// humanBytes prints a size in KiB/MiB/GiB.
func humanBytes(n int64) string {
	switch v := float64(n); {
	case n <= 0:
		return "—"
	case v < 1000<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	case v < 1000<<20:
		return fmt.Sprintf("%.2f MiB", v/(1<<20))
	default:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	}
}

func countCell(n int64, text string) Cell {
	if n <= 0 {
		return Num(math.NaN(), "")
	}
	return Cell{Text: text, Value: float64(n), HasValue: true}
}

// PerplexityTable is table 4, from the cells of Kind "model": one row per
// model cell — dense, every method and every ARMOR setting — with its
// stored parameters (count and relative to dense), its stored bytes, its
// perplexity per corpus (lowest among the pruned rows in bold) and, for
// ARMOR rows, the share of the pruning gap it closes. Nil without model
// cells. ref is unused: every ARMOR setting is shown. With speedups, a
// "Decode" column gives the measured whole-model batch-1 decode speedup of
// the row's format over dense (by ModelCostKey).
func PerplexityTable(cs []*cells.Cell, ref cells.Params, speedups map[CostKey]float64) *Table {
	ms, names := modelCells(cs)
	if len(ms) == 0 {
		return nil
	}
	t := &Table{Name: "perplexity", Title: "Perplexity (lower is better) of every model cell with its size", Header: []string{"Model", "Params", "Rel.", "Stored"}}
	if speedups != nil {
		t.Header = append(t.Header, "Decode")
	}
	first := len(t.Header) // the first perplexity column
	for _, n := range names {
		t.Header = append(t.Header, "PPL "+corpusLabel(n))
	}
	hasArmor := false
	for _, c := range ms {
		hasArmor = hasArmor || c.Method == "armor"
	}
	if hasArmor {
		for _, n := range names {
			t.Header = append(t.Header, "Gap "+corpusLabel(n))
		}
	}
	// The baselines of the gap: dense and every non-ARMOR method.
	base := map[string]*cells.Cell{}
	for _, c := range ms {
		if c.Method != "armor" && base[c.Method] == nil {
			base[c.Method] = c
		}
	}
	for _, c := range ms {
		rel := float64(c.ParamsRelative)
		if c.Method == "dense" && (rel == 0 || math.IsNaN(rel)) {
			rel = 1
		}
		row := []Cell{Text(modelLabel(c)), countCell(c.ParamsStored, humanCount(c.ParamsStored)), Num(rel, "%.3f"), countCell(c.StoredBytes, humanBytes(c.StoredBytes))}
		if speedups != nil {
			sp := math.NaN()
			if k, ok := ModelCostKey(c); ok {
				if v, ok := speedups[k]; ok && v > 0 {
					sp = v
				}
			}
			row = append(row, Num(sp, "%.2f×"))
		}
		for _, n := range names {
			v, ok := c.Perplexity[n]
			if !ok {
				v = math.NaN()
			}
			row = append(row, Num(v, "%.2f"))
		}
		if hasArmor {
			for _, n := range names {
				g := math.NaN()
				if c.Method == "armor" {
					with := map[string]*cells.Cell{"armor": c}
					for m, b := range base {
						with[m] = b
					}
					g = 100 * GapClosed(with, n)
				}
				row = append(row, Num(g, "%.1f%%"))
			}
		}
		t.Rows = append(t.Rows, row)
	}
	// Lowest perplexity of the pruned models per corpus in bold.
	for k := range names {
		col := first + k
		best := math.Inf(1)
		for i, r := range t.Rows {
			if ms[i].Method != "dense" && r[col].HasValue && r[col].Value < best {
				best = r[col].Value
			}
		}
		for i, r := range t.Rows {
			if ms[i].Method != "dense" && r[col].HasValue && r[col].Value == best {
				r[col].Best = true
			}
		}
	}
	win := ""
	if c := ms[0]; c.EvalWindow > 0 {
		win = fmt.Sprintf(" Windows of %d tokens", c.EvalWindow)
		if c.MaxWindows > 0 {
			win += fmt.Sprintf(", at most %d per corpus", c.MaxWindows)
		}
		win += "."
	}
	t.Notes = []string{"Params: stored parameters (kept weights, ARMOR's wrappers, embeddings and norms); Rel.: relative to dense; Stored: bytes of a float32 deployment with 2-bit 2:4 indices. " + decodeNote(speedups) +
		"Gap: (best baseline − ARMOR) / (best baseline − dense), the best baseline being the lowest perplexity among the other pruning methods." + win}
	return t
}

// GapClosed is (best baseline − ARMOR)/(best baseline − dense) on corpus,
// NaN when dense, ARMOR or every baseline is missing.
func GapClosed(byMethod map[string]*cells.Cell, corpus string) float64 {
	get := func(m string) float64 {
		c := byMethod[m]
		if c == nil {
			return math.NaN()
		}
		v, ok := c.Perplexity[corpus]
		if !ok {
			return math.NaN()
		}
		return v
	}
	dense, armor := get("dense"), get("armor")
	best := math.Inf(1)
	for m := range byMethod {
		if m == "dense" || m == "armor" {
			continue
		}
		if v := get(m); v < best {
			best = v
		}
	}
	if math.IsNaN(dense) || math.IsNaN(armor) || math.IsInf(best, 1) || best == dense {
		return math.NaN()
	}
	return (best - armor) / (best - dense)
}
