package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/progress"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/pipeline"
)

func init() {
	commands["prune"] = command{summary: "prune every linear layer of a model (dense or sequential calibration), evaluate perplexity, export", run: runPrune}
}

func runPrune(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := addInputFlags(fs)
	mf := addMethodFlags(fs)
	in.addWikiFlag(fs)
	window := fs.Int("window", pipeline.DefaultWindow, "perplexity window length")
	maxWindows := fs.Int("max-windows", 0, "perplexity: at most this many windows per corpus (0: all)")
	noDense := fs.Bool("no-dense", false, "do not evaluate the dense model")
	noEval := fs.Bool("no-eval", false, "do not evaluate perplexity at all")
	out := fs.String("out", "", "write report.json, hf/ (and factored/ for armor) here (with --stats: the layer parts)")
	gguf := fs.String("gguf", "", "with --out: also write a llama.cpp GGUF file <out>/"+pipeline.GGUFFile+" with tensors in this dtype (F32 or F16; needs a llama2.c tokenizer.bin)")
	verbose := fs.Bool("v", false, "log every pruned layer to stderr")
	inPlace := fs.Bool("in-place", false, "prune the loaded weights in place (halves peak memory; the dense model is evaluated first)")
	showProgress := fs.Bool("progress", false, "draw a progress bar (blocks pruned, windows evaluated, ETA) on stderr even when it is not a terminal")
	layerErrors := fs.Bool("layer-errors", true, "accumulate the full H of every layer to report its output error (O(d_in²) memory per input)")
	ef := addExportFlags(fs)
	workers := fs.Int("workers", 0, "layers of a block pruned at once (0: one per CPU, fewer for layers whose float64 copies are large; see --max-memory)")
	var maxMemory byteSize
	fs.Var(&maxMemory, "max-memory", "memory budget (e.g. 2GiB): layers are pruned one at a time unless more of the largest layer's estimated working set fit (with --workers 0), and the Go runtime's soft heap limit is set to it (unless GOMEMLIMIT is set); the memory-mapped checkpoint is outside it")
	spill := fs.String("spill-dir", "", "half-precision models: write each pruned block here and map it back instead of holding it in memory (default: a temporary directory under --out, or the system's)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile (allocations) at the end of the run to this file")
	stage := addShardFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkNonNegative(fs, "max-windows"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *gguf != "" && *out == "" {
		return errors.New("flag --gguf needs --out")
	}
	if os.Getenv("GOGC") == "" {
		// Pruning allocates a few very large pointer-free matrices per
		// layer; collecting at 25% growth instead of 100% cuts peak RSS by
		// about a third at no measurable cost in time.
		debug.SetGCPercent(25)
	}
	setMemoryLimit(int64(maxMemory))
	stopProfiles, err := startProfiles(*cpuProfile, *memProfile)
	if err != nil {
		return err
	}
	defer stopProfiles()
	if stage.active() {
		return runPruneShard(fs, in, mf, stage, *out, *layerErrors, *verbose, *workers, int64(maxMemory), stdout, stderr)
	}
	cfg, proto, err := mf.config(false)
	if err != nil {
		return err
	}
	if err := in.resolve(true, !*noEval); err != nil {
		return err
	}
	ld, err := in.load(true)
	if err != nil {
		return err
	}
	m, tokFile, texts, cal := ld.m, ld.tokFile, ld.texts, ld.cal
	method, modelPath, calText, calLength := mf.method, in.model, in.calText, in.calLength
	exportOpt, err := ef.options(*modelPath, m)
	if err != nil {
		return err
	}
	opt := pipeline.Options{Method: *method, Config: cfg, Protocol: proto, Calibration: cal, Hessian: *layerErrors, InPlace: *inPlace, Workers: *workers, MaxMemory: int64(maxMemory)}
	logLine := func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }
	if *verbose {
		opt.Log, opt.ProgressLog = logLine, logLine
	}
	if datasets.WeightsDType(m.Weights()) != datasets.F32 {
		dir, cleanup, err := spillDir(*spill, *out)
		if err != nil {
			return err
		}
		defer cleanup()
		opt.SpillDir = dir
	}
	ev := evalSettings{window: *window, maxWindows: *maxWindows, noEval: *noEval, noDense: *noDense,
		progress: progress.ModeFromFlag(*showProgress), stderr: stderr, gguf: *gguf}
	var denseEval []pipeline.EvalResult
	t0 := time.Now()
	if ev.dense() {
		if denseEval, err = ev.evaluate(m, texts.Eval, "dense perplexity"); err != nil {
			return err
		}
	}
	evalSecs := time.Since(t0).Seconds()
	bar := progress.New(stderr, progress.Options{Mode: ev.progress, Total: m.Config().NLayers, Description: "pruning (" + *method + ")", Unit: "blocks"})
	opt.Progress = bar.Hook()
	pr, err := pipeline.Prune(m, opt)
	bar.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pruned %d layers with %s (%s protocol) in %.1fs; parameters %.3f of dense\n", len(pr.Layers), *method, proto, pr.Seconds, pr.Params.Relative())
	rep := pipeline.NewReport(*modelPath, pr, opt)
	rep.CalCorpus, rep.CalLen = *calText, *calLength
	return finishPruned(pr, rep, denseEval, evalSecs, texts, ev, *out, tokFile, exportOpt, stdout)
}

// evaluateWithBar runs pipeline.EvaluateProgress with a progress bar of the
// windows evaluated on stderr (drawn per mode, after progress.DefaultDelay).
func evaluateWithBar(m *model.Model, corpora []pipeline.Corpus, window, maxWindows int, stderr io.Writer, mode progress.Mode, what string) ([]pipeline.EvalResult, error) {
	total := 0
	for _, c := range corpora {
		total += m.PerplexityWindows(len(c.Stream), window, maxWindows)
	}
	bar := progress.New(stderr, progress.Options{Mode: mode, Total: total, Description: what, Unit: "windows"})
	defer bar.Finish()
	return pipeline.EvaluateProgress(m, corpora, window, maxWindows, bar.Hook())
}

// spillDir returns the directory pruned blocks are spilled to: dir if
// given (kept afterwards), else a temporary one under out (or the system's
// temporary directory) removed by cleanup.
func spillDir(dir, out string) (string, func(), error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("flag --spill-dir: %w", err)
		}
		return dir, func() {}, nil
	}
	parent := ""
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return "", nil, err
		}
		parent = out
	}
	tmp, err := os.MkdirTemp(parent, ".armor-spill-")
	if err != nil {
		return "", nil, fmt.Errorf("spill directory: %w", err)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// startProfiles starts a CPU profile (cpu != "") and returns a function
// that stops it and writes a heap profile (mem != "").
func startProfiles(cpu, mem string) (func(), error) {
	var f *os.File
	if cpu != "" {
		var err error
		if f, err = os.Create(cpu); err != nil {
			return nil, fmt.Errorf("flag --cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("flag --cpuprofile: %w", err)
		}
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if mem != "" {
			if h, err := os.Create(mem); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(h, 0)
				h.Close()
			}
		}
	}, nil
}

// setMemoryLimit sets the Go runtime's soft memory limit to limit bytes
// (when positive and GOMEMLIMIT is not set): the collector then runs as
// often as needed to keep the heap under it instead of letting it grow by
// the GC percentage, which matters when single layers' arrays are hundreds
// of megabytes. A live heap above the limit is not an error; the collector
// then caps its own CPU share.
func setMemoryLimit(limit int64) {
	if limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}
