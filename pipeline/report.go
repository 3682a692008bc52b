package pipeline

import (
	"fmt"
	"github.com/prunebench/armor/internal/atomicfile"
	"os"
	"path/filepath"

	"github.com/prunebench/armor/datasets"
)

// Report is the record of one whole-model pruning run, written as
// report.json next to the exported model.
type Report struct {
	Model     string     `json:"model"`
	Method    string     `json:"method"`
	Protocol  string     `json:"protocol"`
	Pattern   string     `json:"pattern"`
	BlockSize int        `json:"block_size,omitempty"`
	Iters     int        `json:"iters,omitempty"`
	Seed      uint64     `json:"seed,omitempty"`
	CalCorpus string     `json:"calibration_corpus"`
	CalWin    int        `json:"calibration_windows"`
	CalLen    int        `json:"calibration_length"`
	CalRows   int        `json:"calibration_rows"`
	Window    int        `json:"window"`
	MaxWin    int        `json:"max_windows"`
	Params    ParamCount `json:"params"`
	// ParamsRelative is Params.Relative(): stored parameters relative to
	// the dense model; WrapperOverhead is ARMOR's A and B entries relative
	// to the dense linear layers.
	ParamsRelative  float64       `json:"params_relative"`
	WrapperOverhead float64       `json:"wrapper_overhead"`
	Dense           []EvalResult  `json:"dense,omitempty"`
	Pruned          []EvalResult  `json:"pruned,omitempty"`
	Layers          []LayerReport `json:"layers"`
	PruneSeconds    float64       `json:"prune_seconds"`
	EvalSeconds     float64       `json:"eval_seconds"`
	Exported        []string      `json:"exported,omitempty"`
}

// NewReport fills the parts of a report that come from a pruned model.
func NewReport(modelPath string, p *Pruned, opt Options) *Report {
	r := &Report{
		Model: modelPath, Method: p.Method, Protocol: string(p.Protocol), Pattern: p.Pattern.String(),
		CalWin: len(opt.Calibration), CalRows: p.CalibrationRows,
		Params: p.Params, ParamsRelative: p.Params.Relative(), WrapperOverhead: p.Params.WrapperOverhead(),
		Layers: p.Layers, PruneSeconds: p.Seconds,
	}
	if len(opt.Calibration) > 0 {
		r.CalLen = len(opt.Calibration[0])
	}
	if p.Method == "armor" {
		r.BlockSize, r.Iters, r.Seed = opt.Config.ARMOR.BlockSize, opt.Config.ARMOR.Iters, opt.Config.ARMOR.Seed
	}
	return r
}

// Export writes the pruned model under dir: dir/hf (Hugging Face layout,
// effective dense weights) and, for ARMOR, dir/factored; the tokenizer file
// (if tokPath is not empty) is copied into each. It returns the
// directories written.
func Export(dir string, p *Pruned, tokPath string) ([]string, error) {
	return ExportWith(dir, p, tokPath, ExportOptions{})
}

// ExportWith is Export with the dtype and shard limit of opt.
func ExportWith(dir string, p *Pruned, tokPath string, opt ExportOptions) ([]string, error) {
	var out []string
	hf := filepath.Join(dir, "hf")
	if err := ExportHFWith(hf, p, opt); err != nil {
		return nil, err
	}
	out = append(out, hf)
	if len(p.Factors) > 0 {
		fd := filepath.Join(dir, "factored")
		if err := ExportFactoredWith(fd, p, opt); err != nil {
			return nil, err
		}
		out = append(out, fd)
	}
	if tokPath != "" {
		b, err := os.ReadFile(tokPath)
		if err != nil {
			return nil, fmt.Errorf("export: tokenizer: %w", err)
		}
		name := "tokenizer.bin"
		if filepath.Ext(tokPath) == ".json" {
			name = "tokenizer.json"
		}
		for _, d := range out {
			if err := atomicfile.WriteFile(filepath.Join(d, name), b); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// WriteReport writes r as dir/report.json.
func WriteReport(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return datasets.WriteJSONAtomic(filepath.Join(dir, "report.json"), r)
}
