package pipeline

import (
	"fmt"
	"time"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/model"
)

// DefaultWindow is the perplexity window length L of the text protocol.
const DefaultWindow = 256

// Encoder turns text into token ids; bos and eos add those tokens. Both
// *tokenizer.Tokenizer (llama2.c tokenizer.bin) and *tokenizer.JSONTokenizer
// (Hugging Face tokenizer.json) satisfy it.
type Encoder interface {
	Encode(text string, bos, eos bool) []int
}

// Stream tokenizes lines with the text protocol: each line is encoded on
// its own (the encoder's dummy-prefix rules, no BOS/EOS), the results are
// concatenated and one BOS (id bos) is put at the very start.
func Stream(enc Encoder, lines []string, bos int) []int {
	s := []int{bos}
	for _, l := range lines {
		s = append(s, enc.Encode(l, false, false)...)
	}
	return s
}

// Corpus is a named token stream to evaluate perplexity on.
type Corpus struct {
	Name   string
	Path   string
	Stream []int
}

// Texts are the streams of the default protocol: the calibration stream
// (the first half of TinyStories' non-empty lines) and the evaluation
// corpora (WikiText-2 test and the second half of TinyStories).
type Texts struct {
	Calibration []int
	Eval        []Corpus
}

// Corpus names used in results.
const (
	CorpusWikiText    = "wikitext2"
	CorpusTinyStories = "tinystories"
)

// LoadTexts reads the default protocol's texts: wikiPath (WikiText-2 raw
// test split) and tinyPath (TinyStories text, split into calibration and
// evaluation halves by line count). Either path may be empty to skip it;
// without tinyPath there is no calibration stream.
func LoadTexts(enc Encoder, bos int, wikiPath, tinyPath string) (*Texts, error) {
	t := &Texts{}
	if wikiPath != "" {
		lines, err := datasets.ReadLines(wikiPath)
		if err != nil {
			return nil, err
		}
		t.Eval = append(t.Eval, Corpus{Name: CorpusWikiText, Path: wikiPath, Stream: Stream(enc, lines, bos)})
	}
	if tinyPath != "" {
		lines, err := datasets.ReadLines(tinyPath)
		if err != nil {
			return nil, err
		}
		cal, ev := datasets.SplitTinyStories(lines)
		t.Calibration = Stream(enc, cal, bos)
		t.Eval = append(t.Eval, Corpus{Name: CorpusTinyStories, Path: tinyPath, Stream: Stream(enc, ev, bos)})
	}
	return t, nil
}

// EvalResult is the perplexity of one corpus with its wall time.
type EvalResult struct {
	Corpus string `json:"corpus"`
	model.PerplexityResult
	Seconds float64 `json:"seconds"`
}

// Evaluate measures the perplexity of m on every corpus with windows of L
// tokens (at most maxWindows per corpus when > 0), as model.Perplexity
// defines it.
func Evaluate(m *model.Model, corpora []Corpus, L, maxWindows int) ([]EvalResult, error) {
	return EvaluateProgress(m, corpora, L, maxWindows, nil)
}

// EvaluateProgress is Evaluate that also reports, through progress (when
// not nil), the windows evaluated so far over all corpora and their total.
func EvaluateProgress(m *model.Model, corpora []Corpus, L, maxWindows int, progress func(done, total int)) ([]EvalResult, error) {
	out := make([]EvalResult, 0, len(corpora))
	total := 0
	for _, c := range corpora {
		total += m.PerplexityWindows(len(c.Stream), L, maxWindows)
	}
	base := 0
	for _, c := range corpora {
		t0 := time.Now()
		var hook func(done, _ int)
		if progress != nil {
			hook = func(done, _ int) { progress(base+done, total) }
		}
		r, err := m.PerplexityProgress(c.Stream, L, maxWindows, hook)
		base += r.Windows
		if err != nil {
			return nil, fmt.Errorf("perplexity on %s (%s): %w", c.Name, c.Path, err)
		}
		out = append(out, EvalResult{Corpus: c.Name, PerplexityResult: r, Seconds: time.Since(t0).Seconds()})
	}
	return out, nil
}
