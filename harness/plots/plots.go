package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/report"
)

// Known lists the plot names Write draws.
var Known = []string{"loss_vs_iter", "loss_vs_block", "layer_loss", "ppl_vs_params"}

// figure is one plot to write, with its file-name suffix and size.
type figure struct {
	suffix        string
	p             *plot.Plot
	width, height vg.Length
}

const (
	defaultWidth  = 16 * vg.Centimeter
	defaultHeight = 10 * vg.Centimeter
)

// Write draws the named plots (loss_vs_iter, loss_vs_block, layer_loss,
// ppl_vs_params) in the given formats (png, svg) into dir as
// plot_<name>.<format> (ppl_vs_params: one file per corpus,
// plot_ppl_vs_params_<corpus>.<format>), each file atomically; ref is the
// reference ARMOR setting (as in report.Options). Plots without data are
// skipped. It returns the paths written.
func Write(dir string, cs []*cells.Cell, names, formats []string, ref cells.Params) ([]string, error) {
	var paths []string
	for _, name := range names {
		var figs []figure
		var err error
		one := func(p *plot.Plot, err error) ([]figure, error) {
			if p == nil || err != nil {
				return nil, err
			}
			return []figure{{p: p, width: defaultWidth, height: defaultHeight}}, nil
		}
		switch name {
		case "loss_vs_iter":
			figs, err = one(LossVsIter(cs, ref))
		case "loss_vs_block":
			figs, err = one(LossVsBlock(cs, ref))
		case "layer_loss":
			var p *plot.Plot
			if p, err = LayerLoss(cs, ref); p != nil {
				figs = []figure{{p: p, width: defaultWidth, height: layerLossHeight(cs, ref)}}
			}
		case "ppl_vs_params":
			figs, err = pplFigures(cs)
		default:
			return paths, fmt.Errorf("unknown plot %q (known: %v)", name, Known)
		}
		if err != nil {
			return paths, fmt.Errorf("plot %s: %w", name, err)
		}
		for _, fg := range figs {
			for _, f := range formats {
				wt, err := draw.NewFormattedCanvas(fg.width, fg.height, f)
				if err != nil {
					return paths, fmt.Errorf("plot %s.%s: %w", name, f, err)
				}
				// A small margin so that no label touches the image edge.
				m := vg.Points(6)
				fg.p.Draw(draw.Crop(draw.New(wt), m, -m, m/2, -m/2))
				var buf bytes.Buffer
				if _, err := wt.WriteTo(&buf); err != nil {
					return paths, fmt.Errorf("plot %s.%s: %w", name, f, err)
				}
				path := filepath.Join(dir, "plot_"+name+fg.suffix+"."+f)
				if err := cells.WriteFileAtomic(path, buf.Bytes()); err != nil {
					return paths, err
				}
				paths = append(paths, path)
			}
		}
	}
	return paths, nil
}

func match(c *cells.Cell, ref cells.Params, free ...string) bool {
	q := c.Params
	if slices.Contains(free, "block_size") {
		q.BlockSize = ref.BlockSize
	}
	if slices.Contains(free, "iters") {
		q.Iters = ref.Iters
	}
	return c.Kind == "layer" && c.Method == "armor" && q == ref
}

// logY switches the Y axis to a log scale with 1-2-5 ticks when the data
// (all positive) span more than a factor ratio.
func logY(p *plot.Plot, ratio float64) {
	if p.Y.Min > 0 && p.Y.Max/p.Y.Min > ratio {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Label.Text += " (log scale)"
	}
}

// legendRoom raises the top of the Y axis so that a legend of n entries at
// the top fits above the data (in log units on a log axis).
func legendRoom(p *plot.Plot, n int) {
	if _, isLog := p.Y.Scale.(plot.LogScale); isLog {
		r := p.Y.Max / p.Y.Min
		p.Y.Min /= math.Pow(r, 0.05)
		p.Y.Max *= math.Pow(r, 0.05+0.06*float64(n))
		return
	}
	span := p.Y.Max - p.Y.Min
	if span <= 0 {
		span = math.Max(math.Abs(p.Y.Max), 1e-3)
		p.Y.Min -= 0.05 * span
	}
	p.Y.Max += span * (0.1 + 0.09*float64(n))
}

// LossVsIter plots, for every block size, the mean over layers of ARMOR's
// loss history at the reference budget. Nil when no history was recorded.
func LossVsIter(cs []*cells.Cell, ref cells.Params) (*plot.Plot, error) {
	byB := map[int][]*cells.Cell{}
	for _, c := range cs {
		if match(c, ref, "block_size") && len(c.History) > 1 {
			byB[c.Params.BlockSize] = append(byB[c.Params.BlockSize], c)
		}
	}
	if len(byB) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("ARMOR: mean proxy loss vs iteration (%d layers)", len(layerNames(cs)))
	p.X.Label.Text = "iteration"
	p.Y.Label.Text = "mean proxy loss L"
	bs := keys(byB)
	for i, b := range bs {
		grid := map[int]bool{}
		for _, c := range byB[b] {
			for _, it := range c.HistoryIters {
				grid[it] = true
			}
		}
		its := keys(grid)
		pts := make(plotter.XYs, len(its))
		for k, it := range its {
			s := 0.0
			for _, c := range byB[b] {
				s += valueAt(c, it)
			}
			pts[k] = plotter.XY{X: float64(it), Y: s / float64(len(byB[b]))}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("b=%d", b), l)
	}
	logY(p, 3)
	legendRoom(p, len(bs))
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p, nil
}

// valueAt is the recorded loss at iteration it: the last recorded point at
// or before it (the loss is held after an early stop).
func valueAt(c *cells.Cell, it int) float64 {
	k := sort.SearchInts(c.HistoryIters, it+1) - 1
	if k < 0 {
		k = 0
	}
	return c.History[k]
}

// valueTicks marks exactly the given values, labelled as integers.
func valueTicks(vs []float64) plot.ConstantTicks {
	ts := make(plot.ConstantTicks, len(vs))
	for i, v := range vs {
		ts[i] = plot.Tick{Value: v, Label: fmt.Sprint(v)}
	}
	return ts
}

// LossVsBlock plots mean ARMOR loss against block size (log axis, a
// labelled tick at every block size), one line per iteration budget, and
// NoWag-P as a dashed line. Nil without ARMOR cells.
func LossVsBlock(cs []*cells.Cell, ref cells.Params) (*plot.Plot, error) {
	nl := len(layerNames(cs))
	type ib struct{ it, b int }
	sum := map[ib][]float64{}
	its := map[int]bool{}
	var nowag []float64
	for _, c := range cs {
		if c.Kind == "layer" && c.Method == "nowag" {
			nowag = append(nowag, float64(c.ProxyLoss))
		}
		if match(c, ref, "block_size", "iters") {
			sum[ib{c.Params.Iters, c.Params.BlockSize}] = append(sum[ib{c.Params.Iters, c.Params.BlockSize}], float64(c.ProxyLoss))
			its[c.Params.Iters] = true
		}
	}
	if len(sum) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "ARMOR: mean proxy loss vs block size"
	p.X.Label.Text = "block size b (log scale)"
	p.Y.Label.Text = "mean proxy loss L"
	p.X.Scale = plot.LogScale{}
	minB, maxB := math.Inf(1), math.Inf(-1)
	bset := map[float64]bool{}
	lines := 0
	for i, it := range keys(its) {
		var pts plotter.XYs
		for k, v := range sum {
			if k.it == it && len(v) == nl {
				pts = append(pts, plotter.XY{X: float64(k.b), Y: mean(v)})
				minB, maxB = math.Min(minB, float64(k.b)), math.Max(maxB, float64(k.b))
				bset[float64(k.b)] = true
			}
		}
		if len(pts) == 0 {
			continue
		}
		sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		s.Radius = vg.Points(3)
		p.Add(l, s)
		p.Legend.Add(fmt.Sprintf("%d it", it), l, s)
		lines++
	}
	if lines == 0 {
		// No budget has a mean over every layer: nothing to draw (and a log
		// axis without data cannot be drawn).
		return nil, nil
	}
	bs := make([]float64, 0, len(bset))
	for b := range bset {
		bs = append(bs, b)
	}
	sort.Float64s(bs)
	p.X.Tick.Marker = valueTicks(bs)
	if len(nowag) == nl && nl > 0 && !math.IsInf(minB, 1) {
		y := mean(nowag)
		l, err := plotter.NewLine(plotter.XYs{{X: minB, Y: y}, {X: maxB, Y: y}})
		if err != nil {
			return nil, err
		}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		l.Color = color.Gray{Y: 80}
		p.Add(l)
		p.Legend.Add("NoWag-P", l)
		lines++
	}
	// Margins so the first and last block size are not on the frame.
	p.X.Min, p.X.Max = minB/1.25, maxB*1.25
	logY(p, 3)
	legendRoom(p, lines)
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p, nil
}

// layerLossData is what LayerLoss draws: the proxy loss of each method
// (ARMOR at ref) on each layer.
func layerLossData(cs []*cells.Cell, ref cells.Params) ([]string, []string, map[string]map[string]float64) {
	layers := layerNames(cs)
	vals := map[string]map[string]float64{}
	for _, c := range cs {
		if c.Kind != "layer" || (c.Method == "armor" && !match(c, ref)) {
			continue
		}
		if vals[c.Method] == nil {
			vals[c.Method] = map[string]float64{}
		}
		if _, dup := vals[c.Method][c.Layer]; !dup {
			vals[c.Method][c.Layer] = float64(c.ProxyLoss)
		}
	}
	var ms []string
	for _, m := range report.MethodOrder {
		if vals[m] != nil {
			ms = append(ms, m)
		}
	}
	return layers, ms, vals
}

// layerLossHeight grows the layer-loss figure with the number of bars.
func layerLossHeight(cs []*cells.Cell, ref cells.Params) vg.Length {
	layers, ms, _ := layerLossData(cs, ref)
	h := 3*vg.Centimeter + vg.Length(len(layers))*(vg.Length(len(ms))*0.3*vg.Centimeter+0.35*vg.Centimeter)
	return max(defaultHeight, h)
}

// groupBars is one method's bars of a grouped bar chart: bar k of n in each
// group. Its width is set at draw time from the distance between two
// categories, so bars of neighbouring groups never overlap whatever the
// figure size.
type groupBars struct {
	*plotter.BarChart
	k, n int
}

// Plot implements plot.Plotter.
func (g groupBars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	tr := trX
	if g.Horizontal {
		tr = trY
	}
	step := tr(1) - tr(0)
	if step < 0 {
		step = -step
	}
	w := 0.8 * step / vg.Length(g.n)
	g.Width = w
	g.Offset = w * vg.Length(float64(g.k)-float64(g.n-1)/2)
	if g.Horizontal {
		g.Offset = -g.Offset // first method on top within a group
	}
	g.BarChart.Plot(c, plt)
}

// LayerLoss draws the proxy loss of each method on each layer as grouped
// horizontal bars (ARMOR at the reference setting), first layer on top.
func LayerLoss(cs []*cells.Cell, ref cells.Params) (*plot.Plot, error) {
	layers, ms, vals := layerLossData(cs, ref)
	if len(layers) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "Proxy loss per layer (lower is better)"
	p.X.Label.Text = "proxy loss L"
	top := 0.0
	n := len(layers)
	for i, m := range ms {
		v := make(plotter.Values, n)
		for k, l := range layers {
			x, ok := vals[m][l]
			if !ok || math.IsNaN(x) {
				x = 0
			}
			v[n-1-k] = x
			top = math.Max(top, x)
		}
		b, err := plotter.NewBarChart(v, vg.Points(1))
		if err != nil {
			return nil, err
		}
		b.Horizontal = true
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(i)
		p.Add(groupBars{BarChart: b, k: i, n: len(ms)})
		name := report.DisplayName[m]
		if m == "armor" {
			name = fmt.Sprintf("ARMOR b=%d, %d it", ref.BlockSize, ref.Iters)
		}
		p.Legend.Add(name, b)
	}
	rev := make([]string, n)
	for k, l := range layers {
		rev[n-1-k] = l
	}
	p.NominalY(rev...)
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4 // whole groups inside the frame
	p.Y.Tick.Label.XAlign = draw.XRight
	p.Legend.Top = true
	p.X.Min, p.X.Max = 0, 1.6*top // room for the legend at the right
	p.Add(plotter.NewGrid())
	return p, nil
}

// pplFigures draws one perplexity-vs-parameters figure per corpus.
func pplFigures(cs []*cells.Cell) ([]figure, error) {
	ms, corpora := report.ModelCells(cs)
	var out []figure
	for _, corpus := range corpora {
		p, err := PPLVsParams(ms, corpus)
		if err != nil {
			return nil, err
		}
		if p != nil {
			out = append(out, figure{suffix: "_" + corpus, p: p, width: defaultWidth, height: defaultHeight})
		}
	}
	return out, nil
}

// dodge is the horizontal offset between the markers of baselines that have
// the same parameter count, in fractions of dense.
const dodge = 0.008

var filledShapes = []draw.GlyphDrawer{draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}

// PPLVsParams plots the perplexity on corpus of every model cell against its
// stored parameters relative to dense: each method a marker, ARMOR's
// settings a line of labelled points (b = block size), the dense model a
// dashed horizontal line. Baselines with equal parameter counts are dodged
// by ±dodge so their markers do not cover each other. The perplexity axis is logarithmic with 1-2-5
// ticks. Nil without pruned model cells.
func PPLVsParams(ms []*cells.Cell, corpus string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Perplexity vs stored parameters: " + corpusLabel(corpus)
	p.X.Label.Text = "stored parameters (fraction of dense)"
	p.Y.Label.Text = "perplexity (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	var armor plotter.XYs
	var armorLabels []string
	dense := math.NaN()
	lo, hi := math.Inf(1), math.Inf(-1)
	entries, i := 0, 0
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for _, c := range ms {
		v, ok := c.Perplexity[corpus]
		if !ok || !(v > 0) || math.IsInf(v, 0) {
			continue
		}
		x := float64(c.ParamsRelative)
		if c.Method == "dense" && !(x > 0) {
			x = 1
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
		switch c.Method {
		case "dense":
			dense = v
		case "armor":
			armor = append(armor, plotter.XY{X: x, Y: v})
			armorLabels = append(armorLabels, fmt.Sprintf("b=%d", c.Params.BlockSize))
		default:
			// Baselines share one parameter count: dodge them a little
			// so that close perplexities stay visible as separate marks.
			x += dodge * (float64(i) - 1.5)
			s, err := plotter.NewScatter(plotter.XYs{{X: x, Y: v}})
			if err != nil {
				return nil, err
			}
			s.Color = plotutil.Color(i + 1)
			s.Shape = filledShapes[i%len(filledShapes)]
			s.Radius = vg.Points(4)
			p.Add(s)
			p.Legend.Add(report.DisplayName[c.Method], s)
			entries++
			i++
		}
	}
	if len(armor) == 0 && entries == 0 {
		return nil, nil
	}
	if len(armor) > 0 {
		// ModelCells lists ARMOR by block size, and parameters grow with it.
		l, s, err := plotter.NewLinePoints(armor)
		if err != nil {
			return nil, err
		}
		l.Color, s.Color = plotutil.Color(0), plotutil.Color(0)
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(3.5)
		p.Add(l, s)
		p.Legend.Add("ARMOR (b = block size)", l, s)
		entries++
		lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: armor, Labels: armorLabels})
		if err != nil {
			return nil, err
		}
		for k := range lbl.TextStyle {
			lbl.TextStyle[k].YAlign = draw.YBottom
			lbl.TextStyle[k].XAlign = draw.XCenter
		}
		lbl.Offset = vg.Point{Y: vg.Points(5)}
		p.Add(lbl)
	}
	if !math.IsNaN(dense) {
		l, err := plotter.NewLine(plotter.XYs{{X: math.Min(xmin, 1) - 0.05, Y: dense}, {X: math.Max(xmax, 1) + 0.05, Y: dense}})
		if err != nil {
			return nil, err
		}
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		l.Color = color.Gray{Y: 60}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("dense (%.3g)", dense), l)
		entries++
	}
	p.X.Min, p.X.Max = math.Min(xmin, 1)-0.05, math.Max(xmax, 1)+0.05
	// Log axis: a decade of margin below, room for the legend above.
	p.Y.Min = lo / 1.3
	p.Y.Max = hi * math.Pow(hi/p.Y.Min, 0.12*float64(entries)) * 1.3
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p, nil
}

// logTicks is a Ticker for log axes: labelled ticks at 1, 10, 100, … (and
// 0.1, 0.01, …); when the range spans less than two decades also at 2× and
// 5× of each decade; unlabelled minor ticks at the other integers × 10^k.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	e0, e1 := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	dense := hi/lo <= 1000
	var ts []plot.Tick
	for e := e0; e <= e1; e++ {
		base := math.Pow(10, float64(e))
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (dense && (m == 2 || m == 5)) {
				t.Label = formatTick(v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// formatTick prints 1-2-5 tick values without exponent noise.
func formatTick(v float64) string {
	if v >= 1 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.*f", int(math.Ceil(-math.Log10(v)-1e-9)), v)
}

// layerNames lists the layers in source order (then by name).
func layerNames(cs []*cells.Cell) []string {
	order := map[string]int{}
	var out []string
	for _, c := range cs {
		if _, ok := order[c.Layer]; c.Kind == "layer" && !ok {
			order[c.Layer] = c.LayerOrder
			out = append(out, c.Layer)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if order[out[i]] != order[out[j]] {
			return order[out[i]] < order[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

func keys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func corpusLabel(c string) string {
	if l, ok := report.CorpusLabel[c]; ok {
		return l
	}
	return c
}
