package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/prunebench/armor/pipeline"
)

func init() {
	commands["assemble"] = command{summary: "staged pruning, step 3: the pruned model and report.json from the layer parts, as armor prune --out writes them", run: runAssemble}
}

// runAssemble is `armor assemble --model M --parts PARTS --out OUT`.
func runAssemble(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor assemble", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := addInputFlags(fs)
	in.addWikiFlag(fs)
	parts := fs.String("parts", "", "the layer parts `armor prune --stats` wrote (required)")
	out := fs.String("out", "", "write report.json, hf/ (and factored/ for armor) here")
	window := fs.Int("window", pipeline.DefaultWindow, "perplexity window length")
	maxWindows := fs.Int("max-windows", 0, "perplexity: at most this many windows per corpus (0: all)")
	noDense := fs.Bool("no-dense", false, "do not evaluate the dense model")
	noEval := fs.Bool("no-eval", false, "do not evaluate perplexity at all")
	ef := addExportFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *parts == "" {
		return fmt.Errorf("flag --parts is required: the directory of the layer parts")
	}
	for _, name := range []string{"calibration", "cal-windows", "cal-length"} {
		if visited(fs, name) {
			return fmt.Errorf("flag --%s does not apply to assemble: the calibration is the one recorded in the parts", name)
		}
	}
	if err := in.resolve(false, !*noEval); err != nil {
		return err
	}
	m, _, err := pipeline.LoadModel(*in.model)
	if err != nil {
		return err
	}
	id, err := pipeline.ModelID(*in.model)
	if err != nil {
		return err
	}
	exportOpt, err := ef.options(*in.model, m)
	if err != nil {
		return err
	}
	a, err := pipeline.Assemble(m, id, *parts)
	if err != nil {
		return err
	}
	// The evaluation half of the calibration corpus, and the tokenizer the
	// statistics were computed with (unless another is given).
	*in.calText = a.Calibration.Corpus
	if *in.tokenizer == "" {
		*in.tokenizer = a.Calibration.Tokenizer
	}
	ld, err := in.loadFor(m, false)
	if err != nil {
		return err
	}
	ev := evalSettings{window: *window, maxWindows: *maxWindows, noEval: *noEval, noDense: *noDense}
	var denseEval []pipeline.EvalResult
	t0 := time.Now()
	if ev.dense() {
		if denseEval, err = pipeline.Evaluate(m, ld.texts.Eval, *window, *maxWindows); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "assembled %d layers pruned with %s (%s protocol); parameters %.3f of dense\n", len(a.Layers), a.Method, a.Protocol, a.Params.Relative())
	return finishPruned(a.Pruned, a.Report(*in.model), denseEval, time.Since(t0).Seconds(), ld.texts, ev, *out, ld.tokFile, exportOpt, stdout)
}
