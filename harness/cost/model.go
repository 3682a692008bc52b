package cost

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/report"
	"github.com/prunebench/armor/infer"
	"github.com/prunebench/armor/model"
)

// Whole-model timing: ModelReps interleaved repetitions of ModelTokens
// greedy decode steps (after a 4-token prompt), the ratio of medians.
const (
	ModelReps   = 5
	ModelTokens = 64
)

// ModelName identifies a checkpoint and its shape in cost.json.
func ModelName(checkpoint string, cfg model.Config) string {
	return fmt.Sprintf("%s dim=%d hidden=%d layers=%d heads=%d/%d vocab=%d", filepath.Base(checkpoint),
		cfg.Dim, cfg.HiddenDim, cfg.NLayers, cfg.NHeads, cfg.NKVHeads, cfg.VocabSize)
}

// ModelMeasure times one whole-model format (report.ModelCostKey) and
// returns its decode speedup over dense.
type ModelMeasure func(k report.CostKey) (float64, error)

// TimedModel returns a ModelMeasure on m: every decoder linear of m dense,
// 2:4-compressed or ARMOR-factorised with random blocks of the key's size
// (infer.TimingForms), batch-1 greedy decode timed interleaved with dense.
func TimedModel(m *model.Model) ModelMeasure {
	return func(k report.CostKey) (float64, error) {
		if k.Format != "2:4" && k.Format != "armor" {
			return 0, nil // no fast whole-model kernel for other patterns
		}
		dense, sparse, armor, err := infer.TimingForms(m, max(k.Block, 4), infer.F32, 1)
		if err != nil {
			return 0, err
		}
		form := sparse
		if k.Format == "armor" {
			form = armor
		}
		prompt := []int{1, 2, 3, 4}
		n := max(1, min(ModelTokens, m.Config().SeqLen-len(prompt)-1))
		var td, tf []float64
		for range ModelReps {
			rd, err := infer.DecodeTokensPerSecond(dense, prompt, n)
			if err != nil {
				return 0, err
			}
			rf, err := infer.DecodeTokensPerSecond(form, prompt, n)
			if err != nil {
				return 0, err
			}
			td, tf = append(td, 1/rd), append(tf, 1/rf)
		}
		slices.Sort(td)
		slices.Sort(tf)
		return td[len(td)/2] / tf[len(tf)/2], nil
	}
}

// ModelSpeedups returns the whole-model decode speedup over dense of every
// format of the model cells cs (dense is 1), from the cost file at path
// when it has the (name, format) and from measure otherwise, rewriting the
// file when something was measured. A format without a fast kernel is
// left out.
func ModelSpeedups(cs []*cells.Cell, name, path string, measure ModelMeasure) (map[report.CostKey]float64, error) {
	keys := report.ModelCostKeys(cs)
	file, err := Read(path)
	if err != nil {
		return nil, err
	}
	cached := map[report.CostKey]float64{}
	for _, e := range file.Models {
		if e.Model == name {
			cached[e.CostKey] = e.DecodeSpeedup
		}
	}
	out := map[report.CostKey]float64{}
	changed := false
	for _, k := range keys {
		if k.Format == "dense" {
			out[k] = 1
			continue
		}
		v, ok := cached[k]
		if !ok {
			if v, err = measure(k); err != nil {
				return nil, fmt.Errorf("measuring whole-model decode of %s %s: %w", name, k, err)
			}
			if v > 0 {
				file.Models = append(file.Models, ModelEntry{Model: name, CostKey: k, DecodeSpeedup: v})
				changed = true
			}
		}
		if v > 0 {
			out[k] = v
		}
	}
	if changed {
		if err := write(path, file); err != nil {
			return nil, err
		}
	}
	return out, nil
}
