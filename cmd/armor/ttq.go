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
	"runtime/pprof"
	"slices"
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
// how many groups per tile each sparse-core step updates (0 = all), an
// iteration budget, and for the theory variants the sparse-core sweeps per
// iteration and the cap on the exact core-value CG (0 = the defaults).
type ttqSchedule struct {
	Continuous methods.Continuous
	Groups     int
	Iters      int
	Sweeps     int
	CGIters    int
	ValueEvery int
	Relax      float64
	Extrap     bool
	Float32    bool // adam only: the float32 working set
}

func (s ttqSchedule) String() string {
	g := strconv.Itoa(s.Groups)
	if s.Groups == 0 {
		g = "all"
	}
	if s.Sweeps > 0 {
		g += fmt.Sprintf("/sweeps=%d", s.Sweeps)
	}
	if s.CGIters > 0 {
		g += fmt.Sprintf("/cg=%d", s.CGIters)
	}
	if s.ValueEvery > 0 {
		g += fmt.Sprintf("/v=%d", s.ValueEvery)
	}
	if s.Relax > 0 {
		g += fmt.Sprintf("/relax=%g", s.Relax)
	}
	if s.Extrap {
		g += "/extrap"
	}
	if s.Float32 {
		g += "/f32"
	}
	return fmt.Sprintf("%s/%s:%d", s.Continuous, g, s.Iters)
}

// parseSchedules reads "adam/1:2000,exact/all:40,exact/all/sweeps=2/cg=5:20".
func parseSchedules(s string) ([]ttqSchedule, error) {
	var out []ttqSchedule
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		rule, iters, ok := strings.Cut(item, ":")
		parts := strings.Split(rule, "/")
		if !ok || len(parts) < 2 {
			return nil, fmt.Errorf("schedule %q: want CONTINUOUS/GROUPS[/OPTION...]:ITERS (options sweeps=K, cg=K, v=K, relax=ω, extrap, f32), e.g. adam/1:2000 or exact/all/sweeps=2:40", item)
		}
		sc := ttqSchedule{Continuous: methods.Continuous(parts[0])}
		var err error
		if groups := parts[1]; groups == "all" {
			sc.Groups = 0
		} else if sc.Groups, err = strconv.Atoi(groups); err != nil || sc.Groups < 1 {
			return nil, fmt.Errorf("schedule %q: groups per tile %q must be a positive integer or \"all\"", item, groups)
		}
		for _, opt := range parts[2:] {
			if err := sc.setOption(opt); err != nil {
				return nil, fmt.Errorf("schedule %q: %w", item, err)
			}
		}
		if sc.Iters, err = strconv.Atoi(iters); err != nil || sc.Iters < 1 {
			return nil, fmt.Errorf("schedule %q: iterations %q must be a positive integer", item, iters)
		}
		out = append(out, sc)
	}
	return out, nil
}

// setOption applies one schedule option: sweeps=K (sparse-core sweeps per
// iteration), cg=K (cap on the exact core-value CG), v=K (core-value update
// every K-th iteration), relax=ω (over-relaxation of A and B, 0 < ω < 2) or
// extrap (extrapolation after every iteration), or f32 (float32 working
// set; adam only).
func (s *ttqSchedule) setOption(opt string) error {
	key, val, _ := strings.Cut(opt, "=")
	if key == "extrap" && val == "" {
		s.Extrap = true
		return nil
	}
	if key == "f32" && val == "" {
		if s.Continuous != methods.ContinuousAdam {
			return fmt.Errorf("option f32: the float32 working set is for adam only")
		}
		s.Float32 = true
		return nil
	}
	if key == "relax" {
		w, err := strconv.ParseFloat(val, 64)
		if err != nil || !(w > 0 && w < 2) {
			return fmt.Errorf("option %q: want relax=ω with 0 < ω < 2", opt)
		}
		s.Relax = w
		return nil
	}
	n, err := strconv.Atoi(val)
	if err != nil || n < 1 {
		return fmt.Errorf("option %q: want sweeps=K, cg=K or v=K with K ≥ 1, relax=ω or extrap", opt)
	}
	switch key {
	case "sweeps":
		s.Sweeps = n
	case "cg":
		s.CGIters = n
	case "v":
		s.ValueEvery = n
	default:
		return fmt.Errorf("unknown option %q (want sweeps, cg, v, relax, extrap or f32)", key)
	}
	return nil
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
	sched := fs.String("schedules", "adam/1:2000,exact/all/v=1000/relax=1.7/extrap:40,exact/all/cg=3/v=5/relax=1.7/extrap:40,gd/all/relax=1.9/extrap:40",
		"comma-separated CONTINUOUS/GROUPS[/OPTION...]:ITERS runs (GROUPS a number or all; options sweeps=K, cg=K, v=K, relax=ω, extrap, f32); the first is the reference unless --target is given")
	out := fs.String("out", "results/ttq", "output directory for ttq.csv, ttq.md, ttq.png and ttq.svg")
	target := fs.Float64("target", 0, "target loss (default: the lowest loss of the first schedule)")
	refSeconds := fs.Float64("ref-seconds", 0, "wall time the speed-ups are relative to (default: the first schedule's)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the runs to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkNonNegative(fs, "target", "ref-seconds"); err != nil {
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
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var results []*methods.Result
	var cpu []float64 // CPU seconds of each run (both cores count)
	for _, sc := range schedules {
		cfg := methods.DefaultConfig()
		cfg.ARMOR.BlockSize, cfg.ARMOR.LR, cfg.ARMOR.Seed = *blockSize, *lr, *seed
		cfg.ARMOR.Continuous, cfg.ARMOR.GroupsPerTile, cfg.ARMOR.Iters, cfg.ARMOR.Patience = sc.Continuous, sc.Groups, sc.Iters, 0
		cfg.ARMOR.Sweeps, cfg.ARMOR.CGIters, cfg.ARMOR.ValueEvery = sc.Sweeps, sc.CGIters, sc.ValueEvery
		cfg.ARMOR.Relax, cfg.ARMOR.Extrapolate = sc.Relax, sc.Extrap
		if sc.Float32 {
			cfg.ARMOR.Precision = methods.Float32
		}
		m, err := methods.New("armor", cfg)
		if err != nil {
			return err
		}
		c0 := cpuSeconds()
		res, err := m.Prune(layer)
		if err != nil {
			return fmt.Errorf("schedule %s: %w", sc, err)
		}
		cpu = append(cpu, cpuSeconds()-c0)
		fmt.Fprintf(stderr, "%-16s %5d iterations in %7.2f s: loss %.6g\n", sc, res.Iterations, res.Elapsed[len(res.Elapsed)-1], res.ProxyLoss)
		results = append(results, res)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	ref := ttqReference(schedules, results, *target, *refSeconds)
	table := ttqTable(name, ref, schedules, results, cpu)
	fmt.Fprint(stdout, table)
	if err := cells.WriteFileAtomic(filepath.Join(*out, "ttq.md"), []byte(table)); err != nil {
		return err
	}
	if err := cells.WriteFileAtomic(filepath.Join(*out, "ttq.csv"), ttqCSV(schedules, results)); err != nil {
		return err
	}
	return ttqPlot(*out, name, ref, schedules, results)
}

// ttqLayer loads the layer file or generates the synthetic layer.
func ttqLayer(input string, dOut, dIn, samples int, seed uint64) (*methods.Layer, string, error) {
	if input != "" {
		lf, err := datasets.ReadLayerFile(input)
		if err != nil {
			return nil, "", err
		}
		l, err := layerFromFile(lf, false, methods.Float64)
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

var nan = math.NaN()

// ttqRef is what the schedules are compared with: a target loss and the
// wall time it is credited with.
type ttqRef struct {
	what    string
	loss    float64
	seconds float64
}

// ttqReference is the lowest loss of the first schedule's history (= its
// result up to the rounding of recomputing the loss from the returned
// weight) and its total time, unless target or seconds (> 0) are given.
func ttqReference(schedules []ttqSchedule, results []*methods.Result, target, seconds float64) ttqRef {
	ref := ttqRef{what: "the lowest loss of " + schedules[0].String(), loss: target, seconds: seconds}
	if target > 0 {
		ref.what = "given"
	} else {
		ref.loss = slices.Min(results[0].History)
	}
	if seconds <= 0 {
		ref.seconds = results[0].Elapsed[len(results[0].Elapsed)-1]
	}
	return ref
}

// ttqTable renders the comparison: each schedule's final loss and time, and
// the time it needed to reach the target loss.
func ttqTable(name string, ref ttqRef, schedules []ttqSchedule, results []*methods.Result, cpu []float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Time to quality on %s: target = %s (%.6g; reference time %.2f s)\n\n", name, ref.what, ref.loss, ref.seconds)
	b.WriteString("| schedule | iterations | seconds | CPU seconds | s/iteration | final loss | seconds to target | speed-up |\n|---|---|---|---|---|---|---|---|\n")
	for k, res := range results {
		total := res.Elapsed[len(res.Elapsed)-1]
		reach := timeToReach(res, ref.loss)
		reachS, speed := "not reached", "—"
		if !math.IsNaN(reach) {
			reachS = fmt.Sprintf("%.2f", reach)
			if reach > 0 {
				speed = fmt.Sprintf("%.1f×", ref.seconds/reach)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.4f | %.6g | %s | %s |\n", schedules[k], res.Iterations, total, cpu[k], total/float64(max(1, res.Iterations)), res.ProxyLoss, reachS, speed)
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

// ttqPlot draws loss versus seconds, one line per schedule, both axes
// log-scaled (the schedules' times differ by orders of magnitude; the
// starting point, at 0 s, is left out).
func ttqPlot(dir, name string, ref ttqRef, schedules []ttqSchedule, results []*methods.Result) error {
	p := plot.New()
	p.Title.Text = "ARMOR: proxy loss vs wall time, " + name
	p.X.Label.Text = "seconds (log scale)"
	p.Y.Label.Text = "proxy loss"
	p.Y.Scale = plot.LogScale{}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	lo, hi, tmin := math.Inf(1), 0.0, math.Inf(1)
	for _, res := range results {
		for it, l := range res.History {
			if l > 0 {
				lo, hi = math.Min(lo, l), math.Max(hi, l)
			}
			if res.Elapsed[it] > 0 {
				tmin = math.Min(tmin, res.Elapsed[it])
			}
		}
	}
	if math.IsInf(tmin, 1) {
		tmin = 1e-3
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
			if l > 0 && res.Elapsed[it] > 0 {
				pts = append(pts, plotter.XY{X: res.Elapsed[it], Y: l})
			}
		}
		if len(pts) == 0 {
			continue
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
	// The target, dashed, up to the reference time.
	if ref.loss > 0 {
		line, err := plotter.NewLine(plotter.XYs{{X: tmin, Y: ref.loss}, {X: math.Max(ref.seconds, tmin), Y: ref.loss}})
		if err != nil {
			return err
		}
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		line.Color = color.RGBA{128, 128, 128, 255}
		p.Add(line)
		p.Legend.Add("target", line)
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
