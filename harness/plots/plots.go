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

// Write draws the named plots (loss_vs_iter, loss_vs_block, layer_loss) in
// the given formats (png, svg) into dir as plot_<name>.<format>, each file
// atomically; ref is the reference ARMOR setting (as in report.Options).
// Plots without data are skipped. It returns the paths written.
func Write(dir string, cs []*cells.Cell, names, formats []string, ref cells.Params) ([]string, error) {
	var paths []string
	for _, name := range names {
		var p *plot.Plot
		var err error
		switch name {
		case "loss_vs_iter":
			p, err = LossVsIter(cs, ref)
		case "loss_vs_block":
			p, err = LossVsBlock(cs, ref)
		case "layer_loss":
			p, err = LayerLoss(cs, ref)
		default:
			return paths, fmt.Errorf("unknown plot %q", name)
		}
		if err != nil {
			return paths, fmt.Errorf("plot %s: %w", name, err)
		}
		if p == nil {
			continue
		}
		for _, f := range formats {
			wt, err := p.WriterTo(16*vg.Centimeter, 10*vg.Centimeter, f)
			if err != nil {
				return paths, fmt.Errorf("plot %s.%s: %w", name, f, err)
			}
			var buf bytes.Buffer
			if _, err := wt.WriteTo(&buf); err != nil {
				return paths, fmt.Errorf("plot %s.%s: %w", name, f, err)
			}
			path := filepath.Join(dir, "plot_"+name+"."+f)
			if err := cells.WriteFileAtomic(path, buf.Bytes()); err != nil {
				return paths, err
			}
			paths = append(paths, path)
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
	p.Y.Label.Text = "proxy loss L"
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
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("b=%d", b), l)
	}
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

// LossVsBlock plots mean ARMOR loss against block size, one line per
// iteration budget, and NoWag-P as a dashed line. Nil without ARMOR cells.
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
	p.X.Label.Text = "block size b"
	p.Y.Label.Text = "proxy loss L"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	minB, maxB := math.Inf(1), math.Inf(-1)
	lines := 0
	for i, it := range keys(its) {
		var pts plotter.XYs
		for k, v := range sum {
			if k.it == it && len(v) == nl {
				pts = append(pts, plotter.XY{X: float64(k.b), Y: mean(v)})
				minB, maxB = math.Min(minB, float64(k.b)), math.Max(maxB, float64(k.b))
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
		p.Add(l, s)
		p.Legend.Add(fmt.Sprintf("%d it", it), l, s)
		lines++
	}
	if lines == 0 {
		// No budget has a mean over every layer: nothing to draw (and a log
		// axis without data cannot be drawn).
		return nil, nil
	}
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
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p, nil
}

// LayerLoss draws the proxy loss of each method on each layer as grouped
// bars (ARMOR at the reference setting).
func LayerLoss(cs []*cells.Cell, ref cells.Params) (*plot.Plot, error) {
	layers := layerNames(cs)
	if len(layers) == 0 {
		return nil, nil
	}
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
	p := plot.New()
	p.Title.Text = "Proxy loss per layer"
	p.Y.Label.Text = "proxy loss L"
	w := vg.Points(math.Max(2, 60/float64(len(ms)+1)))
	top := 0.0
	for i, m := range ms {
		v := make(plotter.Values, len(layers))
		for k, l := range layers {
			x, ok := vals[m][l]
			if !ok || math.IsNaN(x) {
				x = 0
			}
			v[k] = x
			top = math.Max(top, x)
		}
		b, err := plotter.NewBarChart(v, w)
		if err != nil {
			return nil, err
		}
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(i)
		b.Offset = w * vg.Length(float64(i)-float64(len(ms)-1)/2)
		p.Add(b)
		name := report.DisplayName[m]
		if m == "armor" {
			name = fmt.Sprintf("ARMOR b=%d", ref.BlockSize)
		}
		p.Legend.Add(name, b)
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.Y.Min, p.Y.Max = 0, 1.45*top // room for the legend
	p.NominalX(layers...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	return p, nil
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
