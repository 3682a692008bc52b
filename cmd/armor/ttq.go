package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/synthetic"
	"github.com/prunebench/armor/methods"
)

func init() {
	commands["ttq"] = command{summary: "time to quality: ARMOR's loss versus wall time for several update schedules", run: runTTQ}
}

// ttqSchedule is one ARMOR run of the comparison: a continuous update rule,
// how many groups per tile each sparse-core step updates (0 = all), and an
// iteration budget.
type ttqSchedule struct {
	Continuous methods.Continuous
	Groups     int
	Iters      int
}

func (s ttqSchedule) String() string {
	g := strconv.Itoa(s.Groups)
	if s.Groups == 0 {
		g = "all"
	}
	return fmt.Sprintf("%s/%s:%d", s.Continuous, g, s.Iters)
}

// parseSchedules reads "adam/1:2000,exact/all:40".
func parseSchedules(s string) ([]ttqSchedule, error) {
	var out []ttqSchedule
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		rule, iters, ok := strings.Cut(item, ":")
		cont, groups, ok2 := strings.Cut(rule, "/")
		if !ok || !ok2 {
			return nil, fmt.Errorf("schedule %q: want CONTINUOUS/GROUPS:ITERS, e.g. adam/1:2000 or exact/all:40", item)
		}
		sc := ttqSchedule{Continuous: methods.Continuous(cont)}
		var err error
		if groups == "all" {
			sc.Groups = 0
		} else if sc.Groups, err = strconv.Atoi(groups); err != nil || sc.Groups < 1 {
			return nil, fmt.Errorf("schedule %q: groups per tile %q must be a positive integer or \"all\"", item, groups)
		}
		if sc.Iters, err = strconv.Atoi(iters); err != nil || sc.Iters < 1 {
			return nil, fmt.Errorf("schedule %q: iterations %q must be a positive integer", item, iters)
		}
		out = append(out, sc)
	}
	return out, nil
}

func runTTQ(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor ttq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "layer file (W and X, or hessian_diag); default: a synthetic layer")
	dOut := fs.Int("d-out", 512, "synthetic layer: output dimension")
	dIn := fs.Int("d-in", 1024, "synthetic layer: input dimension")
	samples := fs.Int("samples", 1024, "synthetic layer: calibration rows")
	seed := fs.Uint64("seed", 0, "synthetic layer and group-selection seed")
	blockSize := fs.Int("block-size", 32, "ARMOR block size")
	lr := fs.Float64("lr", 1e-4, "Adam learning rate")
	sched := fs.String("schedules", "adam/1:2000,gd/all:20,exact/all:10,exact/16:60", "comma-separated CONTINUOUS/GROUPS:ITERS runs; the first is the reference")
	out := fs.String("out", "results/ttq", "output directory for ttq.csv, ttq.md, ttq.png and ttq.svg")
	if err := fs.Parse(args); err != nil {
		return err
	}
	schedules, err := parseSchedules(*sched)
	if err != nil {
		return fmt.Errorf("flag --schedules: %w", err)
	}
	layer, name, err := ttqLayer(*input, *dOut, *dIn, *samples, *seed)
	if err != nil {
		return err
	}
	var results []*methods.Result
	for _, sc := range schedules {
		cfg := methods.DefaultConfig()
		cfg.ARMOR.BlockSize, cfg.ARMOR.LR, cfg.ARMOR.Seed = *blockSize, *lr, *seed
		cfg.ARMOR.Continuous, cfg.ARMOR.GroupsPerTile, cfg.ARMOR.Iters, cfg.ARMOR.Patience = sc.Continuous, sc.Groups, sc.Iters, 0
		m, err := methods.New("armor", cfg)
		if err != nil {
			return err
		}
		res, err := m.Prune(layer)
		if err != nil {
			return fmt.Errorf("schedule %s: %w", sc, err)
		}
		fmt.Fprintf(stderr, "%-16s %5d iterations in %7.2f s: loss %.6g\n", sc, res.Iterations, res.Elapsed[len(res.Elapsed)-1], res.ProxyLoss)
		results = append(results, res)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	table := ttqTable(name, schedules, results)
	fmt.Fprint(stdout, table)
	if err := cells.WriteFileAtomic(filepath.Join(*out, "ttq.md"), []byte(table)); err != nil {
		return err
	}
	if err := cells.WriteFileAtomic(filepath.Join(*out, "ttq.csv"), ttqCSV(schedules, results)); err != nil {
		return err
	}
	return ttqPlot(*out, name, schedules, results)
}

// ttqLayer loads the layer file or generates the synthetic layer.
func ttqLayer(input string, dOut, dIn, samples int, seed uint64) (*methods.Layer, string, error) {
	if input != "" {
		lf, err := datasets.ReadLayerFile(input)
		if err != nil {
			return nil, "", err
		}
		l, err := layerFromFile(lf, false)
		return l, filepath.Base(input), err
	}
	syn, err := synthetic.Generate(synthetic.Spec{Name: "ttq", DOut: dOut, DIn: dIn, Samples: samples, Seed: seed,
		Scale: 0.02, Outliers: max(2, dIn/50), OutlierMin: 10, OutlierMax: 50})
	if err != nil {
		return nil, "", err
	}
	st, err := methods.StatsFromActivations(syn.X, false)
	if err != nil {
		return nil, "", err
	}
	return &methods.Layer{W: syn.W, Stats: st}, fmt.Sprintf("synthetic %d×%d (seed %d)", dOut, dIn, seed), nil
}

// timeToReach is the first elapsed time at which the loss is ≤ target, or NaN.
func timeToReach(res *methods.Result, target float64) float64 {
	for k, l := range res.History {
		if l <= target {
			return res.Elapsed[k]
		}
	}
	return math.NaN()
}

// ttqTable renders the comparison: each schedule's final loss and time, and
// the time it needed to reach the reference's lowest loss.
func ttqTable(name string, schedules []ttqSchedule, results []*methods.Result) string {
	ref := results[0]
	// The lowest loss of the reference's history (= its result up to the
	// rounding of recomputing the loss from the returned weight).
	target := ref.History[0]
	for _, l := range ref.History {
		target = math.Min(target, l)
	}
	refTime := ref.Elapsed[len(ref.Elapsed)-1]
	var b strings.Builder
	fmt.Fprintf(&b, "Time to quality on %s: target = the lowest loss of %s (%.6g; %.2f s in all)\n\n", name, schedules[0], target, refTime)
	b.WriteString("| schedule | iterations | seconds | s/iteration | final loss | seconds to target | speed-up |\n|---|---|---|---|---|---|---|\n")
	for k, res := range results {
		total := res.Elapsed[len(res.Elapsed)-1]
		reach := timeToReach(res, target)
		reachS, speed := "not reached", "—"
		if !math.IsNaN(reach) {
			reachS = fmt.Sprintf("%.2f", reach)
			if reach > 0 {
				speed = fmt.Sprintf("%.1f×", refTime/reach)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.4f | %.6g | %s | %s |\n", schedules[k], res.Iterations, total, total/float64(max(1, res.Iterations)), res.ProxyLoss, reachS, speed)
	}
	return b.String()
}

func ttqCSV(schedules []ttqSchedule, results []*methods.Result) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"schedule", "iteration", "seconds", "proxy_loss"})
	for k, res := range results {
		for it, l := range res.History {
			_ = w.Write([]string{schedules[k].String(), strconv.Itoa(it), strconv.FormatFloat(res.Elapsed[it], 'g', 6, 64), strconv.FormatFloat(l, 'g', 10, 64)})
		}
	}
	w.Flush()
	return buf.Bytes()
}

// ttqPlot draws loss versus seconds, one line per schedule, log-scaled loss.
func ttqPlot(dir, name string, schedules []ttqSchedule, results []*methods.Result) error {
	p := plot.New()
	p.Title.Text = "ARMOR: proxy loss vs wall time, " + name
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "proxy loss"
	p.Y.Scale = plot.LogScale{}
	lo, hi := math.Inf(1), 0.0
	for _, res := range results {
		for _, l := range res.History {
			if l > 0 {
				lo, hi = math.Min(lo, l), math.Max(hi, l)
			}
		}
	}
	if hi/lo >= 10 {
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.Y.Tick.Marker = plot.DefaultTicks{} // less than a decade: label linearly spaced ticks
	}
	p.Legend.Top = true
	palette := []color.RGBA{{0, 0, 0, 255}, {213, 94, 0, 255}, {0, 114, 178, 255}, {0, 158, 115, 255}, {204, 121, 167, 255}, {230, 159, 0, 255}}
	for k, res := range results {
		pts := make(plotter.XYs, 0, len(res.History))
		for it, l := range res.History {
			if l > 0 {
				pts = append(pts, plotter.XY{X: res.Elapsed[it], Y: l})
			}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = palette[k%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(schedules[k].String(), line)
	}
	if len(results) == 0 {
		return errors.New("no schedule ran")
	}
	// The target: the reference schedule's lowest loss, dashed.
	target := results[0].History[0]
	for _, l := range results[0].History {
		target = math.Min(target, l)
	}
	if target > 0 {
		ref, err := plotter.NewLine(plotter.XYs{{X: 0, Y: target}, {X: results[0].Elapsed[len(results[0].Elapsed)-1], Y: target}})
		if err != nil {
			return err
		}
		ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		ref.Color = color.RGBA{128, 128, 128, 255}
		p.Add(ref)
		p.Legend.Add("target", ref)
	}
	for _, ext := range []string{"png", "svg"} {
		wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, ext)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if _, err := wt.WriteTo(&buf); err != nil {
			return err
		}
		if err := cells.WriteFileAtomic(filepath.Join(dir, "ttq."+ext), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
