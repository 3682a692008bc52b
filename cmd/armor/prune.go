package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/pipeline"
)

func init() {
	commands["prune"] = command{summary: "prune every linear layer of a model (dense or sequential calibration), evaluate perplexity, export", run: runPrune}
}

func runPrune(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := methods.DefaultConfig()
	modelPath := fs.String("model", "", "model: llama2.c .bin, Hugging Face directory or factorized directory (default: stories260K under $ARMOR_DATA)")
	tokPath := fs.String("tokenizer", "", "tokenizer .bin or .json (default: beside the model, or stories260K's under $ARMOR_DATA)")
	method := fs.String("method", "", "pruning method: magnitude, wanda, sparsegpt, nowag or armor")
	protocol := fs.String("protocol", "", "calibration protocol: dense (statistics from the unpruned model) or sequential (block i+1 calibrated on the pruned blocks' output); default: dense for nowag/armor, sequential otherwise")
	pattern := fs.String("pattern", "2:4", "N:M sparsity pattern")
	blockSize := fs.Int("block-size", def.ARMOR.BlockSize, "armor: diagonal block size of A and B (a multiple of M)")
	iters := fs.Int("iters", def.ARMOR.Iters, "armor: iterations per layer")
	seed := fs.Uint64("seed", 0, "armor: random seed of the group selection")
	precision := fs.String("precision", string(methods.Float64), "armor and sparsegpt: float64 or float32 (half the memory, faster): armor's working set; sparsegpt's factorization, column loop and the Gram products of H (and so of the layer output errors)")
	dataRoot := fs.String("data-root", "", "data root holding text/ (default $"+datasets.DataRootEnv+")")
	calText := fs.String("calibration", "", "calibration text; its first half of lines is used, as for TinyStories (default: TinyStories under the data root)")
	calWindows := fs.Int("cal-windows", datasets.DefaultCalibrationWindows, "calibration windows")
	calLength := fs.Int("cal-length", datasets.DefaultCalibrationLength, "tokens per calibration window")
	wiki := fs.String("wikitext", "", "WikiText-2 test file (default: under the data root; \"none\" to skip)")
	window := fs.Int("window", pipeline.DefaultWindow, "perplexity window length")
	maxWindows := fs.Int("max-windows", 0, "perplexity: at most this many windows per corpus (0: all)")
	noDense := fs.Bool("no-dense", false, "do not evaluate the dense model")
	noEval := fs.Bool("no-eval", false, "do not evaluate perplexity at all")
	out := fs.String("out", "", "write report.json, hf/ (and factored/ for armor) here")
	verbose := fs.Bool("v", false, "log every pruned layer to stderr")
	inPlace := fs.Bool("in-place", false, "prune the loaded weights in place (halves peak memory; the dense model is evaluated first)")
	layerErrors := fs.Bool("layer-errors", true, "accumulate the full H of every layer to report its output error (O(d_in²) memory per input)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkNonNegative(fs, "max-windows"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *method == "" {
		return errors.New("flag --method is required (magnitude, wanda, sparsegpt, nowag or armor)")
	}
	root := datasets.DataRoot(*dataRoot)
	var err error
	if *modelPath == "" {
		if *modelPath, err = datasets.FindInDataRoot(root, datasets.RelStories260K, "default model stories260K"); err != nil {
			return fmt.Errorf("no --model given: %w", err)
		}
		if *tokPath == "" {
			if *tokPath, err = datasets.FindInDataRoot(root, datasets.RelStories260KTok, "stories260K tokenizer"); err != nil {
				return err
			}
		}
	}
	p, err := methods.ParsePattern(*pattern)
	if err != nil {
		return fmt.Errorf("flag --pattern: %w", err)
	}
	cfg := def
	cfg.Pattern = p
	cfg.ARMOR.BlockSize, cfg.ARMOR.Iters, cfg.ARMOR.Seed = *blockSize, *iters, *seed
	cfg.ARMOR.Precision = methods.Precision(*precision)
	cfg.SparseGPT.Precision = methods.Precision(*precision)
	switch *method {
	case "armor":
		if err := cfg.ARMOR.Validate(p); err != nil {
			return fmt.Errorf("flags: %w", err)
		}
	case "sparsegpt":
		if err := cfg.SparseGPT.Validate(p); err != nil {
			return fmt.Errorf("flags: %w", err)
		}
	}
	proto := pipeline.DefaultProtocol(*method)
	if *protocol != "" {
		if proto, err = pipeline.ParseProtocol(*protocol); err != nil {
			return fmt.Errorf("flag --protocol: %w", err)
		}
	}
	if *calText == "" {
		if *calText, err = datasets.FindInDataRoot(root, datasets.RelTinyStoriesValid, "TinyStories text (calibration and evaluation halves)"); err != nil {
			return fmt.Errorf("no --calibration given: %w", err)
		}
	}
	if *wiki == "" && !*noEval {
		if *wiki, err = datasets.FindInDataRoot(root, datasets.RelWikiText2Test, "WikiText-2 test split"); err != nil {
			return fmt.Errorf("no --wikitext given: %w (or pass --wikitext none)", err)
		}
	}
	if *wiki == "none" || *noEval {
		*wiki = ""
	}

	m, _, err := pipeline.LoadModel(*modelPath)
	if err != nil {
		return err
	}
	enc, bos, tokFile, err := pipeline.LoadTokenizer(*tokPath, *modelPath, m.Config().VocabSize)
	if err != nil {
		return err
	}
	texts, err := pipeline.LoadTexts(enc, bos, *wiki, *calText)
	if err != nil {
		return err
	}
	cal, err := datasets.CalibrationWindows(texts.Calibration, *calWindows, *calLength)
	if err != nil {
		return fmt.Errorf("%s: %w", *calText, err)
	}
	opt := pipeline.Options{Method: *method, Config: cfg, Protocol: proto, Calibration: cal, Hessian: *layerErrors, InPlace: *inPlace}
	if *verbose {
		opt.Log = func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }
	}
	var denseEval []pipeline.EvalResult
	t0 := time.Now()
	if !*noEval && !*noDense {
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
	rep.CalCorpus, rep.CalLen, rep.Window, rep.MaxWin = *calText, *calLength, *window, *maxWindows
	rep.Dense = denseEval
	if !*noEval {
		t0 := time.Now()
		if rep.Pruned, err = pipeline.Evaluate(pr.Model, texts.Eval, *window, *maxWindows); err != nil {
			return err
		}
		rep.EvalSeconds = evalSecs + time.Since(t0).Seconds()
	}
	if *out != "" {
		if rep.Exported, err = pipeline.Export(*out, pr, tokFile); err != nil {
			return err
		}
		if err := pipeline.WriteReport(*out, rep); err != nil {
			return err
		}
	}
	summary := struct {
		Method          string             `json:"method"`
		Protocol        string             `json:"protocol"`
		BlockSize       int                `json:"block_size,omitempty"`
		Iters           int                `json:"iters,omitempty"`
		ParamsRelative  float64            `json:"params_relative"`
		WrapperOverhead float64            `json:"wrapper_overhead"`
		Dense           map[string]float64 `json:"dense_perplexity,omitempty"`
		Pruned          map[string]float64 `json:"perplexity,omitempty"`
		PruneSeconds    float64            `json:"prune_seconds"`
		EvalSeconds     float64            `json:"eval_seconds"`
		Exported        []string           `json:"exported,omitempty"`
		Windows         map[string]int     `json:"windows,omitempty"`
	}{Method: rep.Method, Protocol: rep.Protocol, BlockSize: rep.BlockSize, Iters: rep.Iters,
		ParamsRelative: rep.ParamsRelative, WrapperOverhead: rep.WrapperOverhead,
		PruneSeconds: rep.PruneSeconds, EvalSeconds: rep.EvalSeconds, Exported: rep.Exported}
	ppl := func(rs []pipeline.EvalResult) map[string]float64 {
		if len(rs) == 0 {
			return nil
		}
		m := map[string]float64{}
		for _, r := range rs {
			m[r.Corpus] = r.Perplexity
		}
		return m
	}
	summary.Dense, summary.Pruned = ppl(rep.Dense), ppl(rep.Pruned)
	if len(rep.Pruned) > 0 {
		summary.Windows = map[string]int{}
		for _, r := range rep.Pruned {
			summary.Windows[r.Corpus] = r.Windows
		}
	}
	return json.NewEncoder(stdout).Encode(summary)
}
