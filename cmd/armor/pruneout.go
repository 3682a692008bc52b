package main

import (
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/progress"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/pipeline"
)

// evalSettings are the perplexity flags of prune and assemble.
type evalSettings struct {
	window, maxWindows int
	noEval, noDense    bool
	// progress and stderr draw the evaluation's progress bar; gguf, when
	// set, is the dtype of an extra GGUF export.
	progress progress.Mode
	stderr   io.Writer
	gguf     string
}

// evaluate measures m's perplexity on corpora with a progress bar titled what.
func (e evalSettings) evaluate(m *model.Model, corpora []pipeline.Corpus, what string) ([]pipeline.EvalResult, error) {
	if e.stderr == nil {
		return pipeline.Evaluate(m, corpora, e.window, e.maxWindows)
	}
	return evaluateWithBar(m, corpora, e.window, e.maxWindows, e.stderr, e.progress, what)
}

// dense says whether the dense model is evaluated.
func (e evalSettings) dense() bool { return !e.noEval && !e.noDense }

// finishPruned evaluates the pruned model (unless ev.noEval), exports it
// with its report under out (when set, in exportOpt's dtype and shards) and prints the summary on stdout.
// denseEval and evalSecs are the dense model's results and evaluation time.
func finishPruned(pr *pipeline.Pruned, rep *pipeline.Report, denseEval []pipeline.EvalResult, evalSecs float64, texts *pipeline.Texts, ev evalSettings, out, tokFile string, exportOpt pipeline.ExportOptions, stdout io.Writer) error {
	var err error
	rep.Window, rep.MaxWin = ev.window, ev.maxWindows
	rep.Dense = denseEval
	if !ev.noEval {
		t0 := time.Now()
		if rep.Pruned, err = ev.evaluate(pr.Model, texts.Eval, "pruned perplexity"); err != nil {
			return err
		}
		rep.EvalSeconds = evalSecs + time.Since(t0).Seconds()
	}
	if out != "" {
		if rep.Exported, err = pipeline.ExportWith(out, pr, tokFile, exportOpt); err != nil {
			return err
		}
		if ev.gguf != "" {
			tb, err := pipeline.GGUFTokenizer(tokFile, rep.Model, pr.Model.Config().VocabSize)
			if err != nil {
				return err
			}
			gp := filepath.Join(out, pipeline.GGUFFile)
			if err := pipeline.ExportGGUF(gp, pr.Model, tb, datasets.DType(strings.ToUpper(ev.gguf)), pr.Method, pipeline.HFMetadata(pr)); err != nil {
				return err
			}
			rep.Exported = append(rep.Exported, gp)
		}
		if err := pipeline.WriteReport(out, rep); err != nil {
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
