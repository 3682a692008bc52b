package main

import (
	"flag"
	"fmt"
	"io"
	"time"

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
	verbose := fs.Bool("v", false, "log every pruned layer to stderr")
	inPlace := fs.Bool("in-place", false, "prune the loaded weights in place (halves peak memory; the dense model is evaluated first)")
	layerErrors := fs.Bool("layer-errors", true, "accumulate the full H of every layer to report its output error (O(d_in²) memory per input)")
	stage := addShardFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if stage.active() {
		return runPruneShard(fs, in, mf, stage, *out, *layerErrors, *verbose, stdout, stderr)
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
	opt := pipeline.Options{Method: *method, Config: cfg, Protocol: proto, Calibration: cal, Hessian: *layerErrors, InPlace: *inPlace}
	if *verbose {
		opt.Log = func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }
	}
	ev := evalSettings{window: *window, maxWindows: *maxWindows, noEval: *noEval, noDense: *noDense}
	var denseEval []pipeline.EvalResult
	t0 := time.Now()
	if ev.dense() {
		if denseEval, err = pipeline.Evaluate(m, texts.Eval, *window, *maxWindows); err != nil {
			return err
		}
	}
	evalSecs := time.Since(t0).Seconds()
	pr, err := pipeline.Prune(m, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pruned %d layers with %s (%s protocol) in %.1fs; parameters %.3f of dense\n", len(pr.Layers), *method, proto, pr.Seconds, pr.Params.Relative())
	rep := pipeline.NewReport(*modelPath, pr, opt)
	rep.CalCorpus, rep.CalLen = *calText, *calLength
	return finishPruned(pr, rep, denseEval, evalSecs, texts, ev, *out, tokFile, stdout)
}
