package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/progress"
	"github.com/prunebench/armor/pipeline"
)

func init() {
	commands["eval"] = command{summary: "perplexity of a model (llama2.c .bin, Hugging Face dir or factorized ARMOR dir) on a text file", run: runEval}
}

// evalReport is the JSON object `armor eval` prints.
type evalReport struct {
	Perplexity      float64 `json:"perplexity"`
	Tokens          int     `json:"tokens"`
	Windows         int     `json:"windows"`
	PredictedTokens int     `json:"predicted_tokens"`
	Seconds         float64 `json:"seconds"`
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model", "", "model: llama2.c checkpoint (.bin), Hugging Face directory (config.json + safetensors) or factorized ARMOR directory (armor_manifest.json)")
	tokPath := fs.String("tokenizer", "", "tokenizer: llama2.c tokenizer.bin or tokenizer.json (default: tokenizer.json, tokenizer.bin or tok<vocab>.bin beside the model)")
	text := fs.String("text", "", "text file, tokenized with the default protocol (lines, no trimming, one BOS); relative paths are also tried under $ARMOR_DATA")
	window := fs.Int("window", pipeline.DefaultWindow, "window length L: non-overlapping windows, tokens 2..L of each scored")
	maxWindows := fs.Int("max-windows", 0, "evaluate at most this many windows (0: all)")
	showProgress := fs.Bool("progress", false, "draw a progress bar (windows evaluated, ETA) on stderr even when it is not a terminal")
	deploy := fs.String("deploy", "ref", "linear layers: ref (the reference dense forward), auto (factorised layers as stored, 2:4 layers compressed, others dense), dense or 2:4 (see armor generate)")
	storage := fs.String("storage", "f32", "stored values of deployed layers: f32 or bf16")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkNonNegative(fs, "max-windows"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *modelPath == "" || *text == "" {
		return errors.New("flags --model and --text are required")
	}
	t0 := time.Now()
	m, _, err := loadDeployed(*modelPath, *deploy, *storage)
	if err != nil {
		return err
	}
	enc, bos, _, err := pipeline.LoadTokenizer(*tokPath, *modelPath, m.Config().VocabSize)
	if err != nil {
		return err
	}
	tp, err := datasets.ResolveDataPath(datasets.DataRoot(""), *text, "text file "+*text)
	if err != nil {
		return err
	}
	lines, err := datasets.ReadLines(tp)
	if err != nil {
		return err
	}
	stream := pipeline.Stream(enc, lines, bos)
	bar := progress.New(stderr, progress.Options{Mode: progress.ModeFromFlag(*showProgress),
		Total: m.PerplexityWindows(len(stream), *window, *maxWindows), Description: "perplexity", Unit: "windows"})
	res, err := m.PerplexityProgress(stream, *window, *maxWindows, bar.Hook())
	bar.Finish()
	if err != nil {
		return fmt.Errorf("%s: %w", tp, err)
	}
	enc2 := json.NewEncoder(stdout)
	return enc2.Encode(evalReport{
		Perplexity: res.Perplexity, Tokens: res.Tokens, Windows: res.Windows,
		PredictedTokens: res.PredictedTokens, Seconds: time.Since(t0).Seconds(),
	})
}
