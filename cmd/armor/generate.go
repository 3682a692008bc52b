package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/prunebench/armor/infer"
	"github.com/prunebench/armor/pipeline"
)

func init() {
	commands["generate"] = command{summary: "generate text from a prompt (dense, 2:4-compressed or ARMOR-factorised model), printing tokens/s", run: runGenerate}
}

// decoder turns token ids back into text.
type decoder interface{ Decode([]int) string }

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model", "", "model: llama2.c .bin, Hugging Face dir or factorised ARMOR dir")
	tokPath := fs.String("tokenizer", "", "tokenizer (default: beside the model, as for eval)")
	prompt := fs.String("prompt", "", "prompt text")
	n := fs.Int("n", 256, "tokens to generate (stops at the context length)")
	temp := fs.Float64("temperature", 1, "sampling temperature (0: greedy)")
	topP := fs.Float64("top-p", 0.9, "nucleus sampling mass in (0, 1] (1: off)")
	seed := fs.Uint64("seed", 0, "sampling seed (0: from the clock)")
	deploy := fs.String("deploy", "auto", "linear layers: auto (factorised layers as stored, 2:4 layers compressed, others dense), dense, 2:4, or ref (the reference dense forward)")
	storage := fs.String("storage", "f32", "stored values of deployed layers: f32 or bf16")
	threads := fs.Int("threads", 0, "goroutines per linear layer (0: GOMAXPROCS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *modelPath == "" {
		return errors.New("flag --model is required")
	}
	if *temp < 0 || *topP <= 0 || *topP > 1 || *n < 0 {
		return fmt.Errorf("want --temperature ≥ 0, --top-p in (0, 1], -n ≥ 0")
	}
	defer infer.SetThreads(infer.SetThreads(*threads))
	m, _, err := loadDeployed(*modelPath, *deploy, *storage)
	if err != nil {
		return err
	}
	enc, bos, _, err := pipeline.LoadTokenizer(*tokPath, *modelPath, m.Config().VocabSize)
	if err != nil {
		return err
	}
	dec, ok := enc.(decoder)
	if !ok {
		return fmt.Errorf("tokenizer %T cannot decode", enc)
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(*seed, 0))
	toks := append([]int{bos}, enc.Encode(*prompt, false, false)...)
	s := m.NewSession()
	t0 := time.Now()
	logits, err := s.Feed(toks)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, dec.Decode(toks))
	var tDecode time.Time
	generated := 0
	for generated < *n && s.Pos() < m.Config().SeqLen {
		next := sample(logits, *temp, *topP, rng)
		if generated == 0 {
			tDecode = time.Now()
		}
		fmt.Fprint(stdout, dec.Decode([]int{toks[len(toks)-1], next})[len(dec.Decode([]int{toks[len(toks)-1]})):])
		toks = append(toks, next)
		generated++
		if logits, err = s.Feed([]int{next}); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout)
	if generated > 0 {
		el := time.Since(tDecode).Seconds()
		fmt.Fprintf(stderr, "achieved tok/s: %f (%d tokens; prompt of %d took %.3fs)\n", float64(generated)/el, generated, len(toks)-generated, tDecode.Sub(t0).Seconds())
	}
	mem := infer.ResidentBytes(m)
	fmt.Fprintf(stderr, "weights resident: %.1f MiB (linear layers %.1f MiB; dense float32 they would take %.1f MiB)\n",
		float64(mem.Total())/(1<<20), float64(mem.Linear)/(1<<20), float64(mem.DenseLinear)/(1<<20))
	return nil
}

// sample picks the next token: the argmax at temperature 0, else a draw
// from softmax(logits/temperature) restricted to the smallest set of most
// likely tokens whose mass reaches topP.
func sample(logits []float32, temperature, topP float64, rng *rand.Rand) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	if temperature == 0 {
		return best
	}
	p := make([]float64, len(logits))
	var sum float64
	for i, v := range logits {
		p[i] = math.Exp((float64(v) - float64(logits[best])) / temperature)
		sum += p[i]
	}
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	cut, mass := len(idx), 0.0
	for k, i := range idx {
		mass += p[i] / sum
		if mass >= topP {
			cut = k + 1
			break
		}
	}
	var kept float64
	for _, i := range idx[:cut] {
		kept += p[i]
	}
	u := rng.Float64() * kept
	for _, i := range idx[:cut] {
		if u -= p[i]; u < 0 {
			return i
		}
	}
	return idx[cut-1]
}
