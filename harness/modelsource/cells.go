package modelsource

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/source"
	"github.com/prunebench/armor/harness/sweep"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/pipeline"
)

// MaxWindowsEnv caps the perplexity windows per corpus of model cells
// (unset or 0: the whole corpus, as the text protocol prescribes). It is a
// stop-gap until the config has a key for it; the cap is part of the cell
// key and of every cell's params.
const MaxWindowsEnv = "ARMOR_EVAL_MAX_WINDOWS"

// ModelJob is one whole-model cell: the dense model, or one method with one
// setting applied to every linear layer of every block.
type ModelJob struct {
	Method   string
	Pattern  methods.Pattern
	Params   cells.Params
	Protocol pipeline.Protocol
	Key      string
}

// Label is a short description for progress lines.
func (j ModelJob) Label() string {
	s := j.Method
	if j.Method == "armor" {
		s += fmt.Sprintf(" b=%d it=%d", j.Params.BlockSize, j.Params.Iters)
	}
	if j.Method != "dense" {
		s += " (" + string(j.Protocol) + ")"
	}
	return "model " + s
}

// PlanModelCells lists the model cells of config c on source s: dense, and
// per pattern every method of c.Methods with its authors' protocol
// (pipeline.DefaultProtocol), ARMOR once per block size of the config at
// the reference setting's other values (sweep.Reference).
func PlanModelCells(c *config.Config, s *Source, maxWindows int) []ModelJob {
	pats, corpora := configOf(c)
	extra := fmt.Sprintf("window=%d;max_windows=%d;corpora=%q", pipeline.DefaultWindow, maxWindows, corpora)
	var jobs []ModelJob
	add := func(m string, p methods.Pattern, ps cells.Params, proto pipeline.Protocol) {
		layers := fmt.Sprintf("all %d linear layers, %s protocol", len(s.m.Weights().LinearNames()), proto)
		if m == "dense" {
			layers = "none (dense)"
		}
		if maxWindows > 0 {
			layers += fmt.Sprintf(", ≤%d eval windows", maxWindows)
		}
		ps.Layers = layers
		j := ModelJob{Method: m, Pattern: p, Params: ps, Protocol: proto}
		j.Key = cells.Key(cells.KeyInput{Version: sweep.Version, Kind: "model", LayerID: s.id, Layer: "model",
			Method: m, Pattern: p.String(), Params: ps, Extra: extra})
		jobs = append(jobs, j)
	}
	add("dense", methods.Pattern24, cells.Params{}, "")
	ref := sweep.Reference(c)
	for _, p := range pats {
		for _, m := range c.Methods {
			proto := pipeline.DefaultProtocol(m)
			switch m {
			case "armor":
				for _, b := range c.ARMOR.BlockSize {
					ps := ref
					ps.BlockSize = b
					add(m, p, ps, proto)
				}
			case "sparsegpt":
				add(m, p, sweep.SparseGPTParams(c), proto)
			default:
				add(m, p, cells.Params{}, proto)
			}
		}
	}
	return jobs
}

// RunModelCells computes the model cells of c that are not in done and
// appends them to store. It does nothing (0, nil) unless src is a model
// Source and c asks for perplexity. Cells run one after another; each
// uses every core.
func RunModelCells(ctx context.Context, c *config.Config, src source.Source, done map[string]bool, store *cells.Store, log io.Writer) (int, error) {
	s, ok := src.(*Source)
	if !ok || len(c.Evaluation.Perplexity) == 0 {
		return 0, nil
	}
	maxWindows := c.Evaluation.MaxWindows
	if v := os.Getenv(MaxWindowsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s=%q: want a non-negative integer", MaxWindowsEnv, v)
		}
		maxWindows = n
	}
	jobs := PlanModelCells(c, s, maxWindows)
	var pending []ModelJob
	for _, j := range jobs {
		if !done[j.Key] {
			pending = append(pending, j)
		}
	}
	if log == nil {
		log = io.Discard
	}
	fmt.Fprintf(log, "%s: %d model cells planned (whole-model pruning + perplexity), %d already done\n", c.Experiment, len(jobs), len(jobs)-len(pending))
	if len(pending) == 0 {
		return 0, nil
	}
	_, corporaPaths := configOf(c)
	corpora, err := s.evalCorpora(corporaPaths)
	if err != nil {
		return 0, err
	}
	cal, err := s.Calibration()
	if err != nil {
		return 0, err
	}
	ran := 0
	for k, j := range pending {
		if ctx.Err() != nil {
			return ran, fmt.Errorf("interrupted after %d of %d pending model cells; rerun the same command to resume", ran, len(pending))
		}
		t0 := time.Now()
		cell, err := s.runModelJob(c, j, cal, corpora, maxWindows)
		if err != nil {
			return ran, fmt.Errorf("%s: %w", j.Label(), err)
		}
		cell.Seconds = time.Since(t0).Seconds()
		if err := store.Append(cell); err != nil {
			return ran, err
		}
		ran++
		fmt.Fprintf(log, "[%d/%d] %s: %s, params %.3f of dense, %.1fs\n", k+1, len(pending), j.Label(), pplString(cell.Perplexity), float64(cell.ParamsRelative), cell.Seconds)
	}
	return ran, nil
}

func pplString(m map[string]float64) string {
	s := ""
	for k, v := range m {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %.3f", k, v)
	}
	return s
}

// runModelJob prunes (unless dense) and evaluates one model cell.
func (s *Source) runModelJob(c *config.Config, j ModelJob, cal [][]int, corpora []pipeline.Corpus, maxWindows int) (*cells.Cell, error) {
	dense := pipeline.CountParams(s.m.Config(), s.m.Weights(), nil)
	cell := &cells.Cell{
		Key: j.Key, Kind: "model", Experiment: c.Experiment, Source: s.Describe(), SourceKind: s.Kind(),
		Layer: "model", Method: j.Method, Pattern: j.Pattern.String(), Params: j.Params, Protocol: string(j.Protocol),
		ProxyLoss: cells.Float(math.NaN()), OutputError: cells.Float(math.NaN()),
		NonzeroFraction: 1, OverheadFraction: 0, ParamsRelative: 1, Version: sweep.Version,
		EvalWindow: pipeline.DefaultWindow, MaxWindows: maxWindows,
		ParamsStored: int64(dense.Dense), ParamsDense: int64(dense.Dense), StoredBytes: cells.StoredBytes(int64(dense.Dense), 0, j.Pattern.M),
	}
	m := s.m
	if j.Method != "dense" {
		mcfg := sweep.MethodConfig(sweep.Job{Method: j.Method, Pattern: j.Pattern, Params: j.Params}, 0)
		p, err := pipeline.Prune(s.m, pipeline.Options{Method: j.Method, Config: mcfg, Protocol: j.Protocol, Calibration: cal, Hessian: true})
		if err != nil {
			return nil, err
		}
		m = p.Model
		var loss, oerr float64
		iters := 0
		for _, l := range p.Layers {
			loss += float64(l.ProxyLoss)
			oerr += float64(l.OutputError)
			iters = max(iters, l.Iterations)
		}
		n := float64(len(p.Layers))
		cell.ProxyLoss, cell.OutputError = cells.Float(loss/n), cells.Float(oerr/n)
		cell.NonzeroFraction = cells.Float(float64(p.Params.LinearStored-p.Params.Wrapper) / float64(p.Params.Linear))
		cell.OverheadFraction = cells.Float(p.Params.WrapperOverhead())
		cell.ParamsRelative = cells.Float(p.Params.Relative())
		cell.ParamsStored, cell.ParamsDense = int64(p.Params.Stored), int64(p.Params.Dense)
		cell.StoredBytes = cells.StoredBytes(int64(p.Params.Stored), int64(p.Params.LinearStored-p.Params.Wrapper), j.Pattern.M)
		cell.Iterations = iters
	}
	ev, err := pipeline.Evaluate(m, corpora, pipeline.DefaultWindow, maxWindows)
	if err != nil {
		return nil, err
	}
	cell.Perplexity, cell.Windows = map[string]float64{}, map[string]int{}
	for _, r := range ev {
		cell.Perplexity[r.Corpus] = r.Perplexity
		cell.Windows[r.Corpus] = r.Windows
	}
	return cell, nil
}

func denseOf(r, c int, v []float64) *mat.Dense { return mat.NewDense(r, c, v) }
