package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
)

func init() {
	commands["layer"] = command{summary: "prune one linear layer stored as safetensors (W and X, or hessian_diag/H)", run: runLayer}
}

// layerReport is the one JSON object `armor layer` prints.
type layerReport struct {
	Method           string    `json:"method"`
	Pattern          string    `json:"pattern"`
	BlockSize        int       `json:"block_size"`
	Iterations       int       `json:"iterations"`
	ProxyLoss        float64   `json:"proxy_loss"`
	OutputError      *float64  `json:"output_error"`
	NonzeroFraction  float64   `json:"nonzero_fraction"`
	OverheadFraction float64   `json:"overhead_fraction"`
	Seconds          float64   `json:"seconds"`
	History          []float64 `json:"history,omitempty"`
}

func runLayer(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor layer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := methods.DefaultConfig()
	input := fs.String("input", "", "safetensors file with W (d_out×d_in) and X (n×d_in), or hessian_diag (and H for sparsegpt)")
	method := fs.String("method", "", "pruning method: magnitude, wanda, sparsegpt, nowag or armor")
	pattern := fs.String("pattern", "2:4", "N:M sparsity pattern along the input dimension")
	blockSize := fs.Int("block-size", def.ARMOR.BlockSize, "armor: size of the diagonal blocks of A and B")
	iters := fs.Int("iters", def.ARMOR.Iters, "armor: block-coordinate-descent iterations")
	continuous := fs.String("continuous", string(def.ARMOR.Continuous), "armor: continuous update: adam (paper), gd (1/β gradient steps) or exact (block minimization)")
	lr := fs.Float64("lr", def.ARMOR.LR, "armor: Adam learning rate")
	sel := fs.String("select", string(def.ARMOR.Select), "armor: group selection: gradient, greedy or random")
	patience := fs.Int("patience", def.ARMOR.Patience, "armor: stop after this many iterations without improvement (0: never)")
	seed := fs.Uint64("seed", 0, "armor: random seed of the group selection")
	groups := fs.Int("groups-per-tile", def.ARMOR.GroupsPerTile, "armor: groups per tile each sparse-core step updates (0: every group)")
	precision := fs.String("precision", string(methods.Float64), "armor and sparsegpt: float64 or float32 (faster, half the memory): armor's adam working set; sparsegpt's factorization, column loop and the Gram products of H")
	threads := fs.Int("threads", 0, "goroutines for the kernels (0: all cores); results do not depend on it")
	history := fs.Bool("history", false, "armor: add the proxy loss after every iteration to the JSON")
	output := fs.String("output", "", "write W_hat, mask (and A, B, core for armor) to this safetensors file")
	dtype := fs.String("dtype", "F32", "dtype of the written matrices: F32 or F64")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkNonNegative(fs, "patience", "threads"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *input == "" {
		return errors.New("flag --input is required")
	}
	if *method == "" {
		return fmt.Errorf("flag --method is required (one of %v)", methods.Names())
	}
	p, err := methods.ParsePattern(*pattern)
	if err != nil {
		return fmt.Errorf("flag --pattern: %w", err)
	}
	outType := datasets.DType(*dtype)
	if outType != datasets.F32 && outType != datasets.F64 {
		return fmt.Errorf("flag --dtype %q: want F32 or F64", *dtype)
	}
	cfg := def
	cfg.Pattern = p
	cfg.ARMOR.BlockSize, cfg.ARMOR.Iters, cfg.ARMOR.LR = *blockSize, *iters, *lr
	cfg.ARMOR.Select, cfg.ARMOR.Seed, cfg.ARMOR.Threads = methods.Selection(*sel), *seed, *threads
	cfg.ARMOR.Patience = *patience
	cfg.ARMOR.Continuous = methods.Continuous(*continuous)
	cfg.ARMOR.GroupsPerTile, cfg.ARMOR.Precision = *groups, methods.Precision(*precision)
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
	m, err := methods.New(*method, cfg)
	if err != nil {
		return fmt.Errorf("flag --method: %w", err)
	}
	lf, err := datasets.ReadLayerFile(*input)
	if err != nil {
		return err
	}
	gram := methods.Float64
	if *method == "sparsegpt" {
		gram = cfg.SparseGPT.Precision
	}
	layer, err := layerFromFile(lf, *method == "sparsegpt", gram)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := m.Prune(layer)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", *input, *method, err)
	}
	secs := time.Since(start).Seconds()
	rep := layerReport{
		Method: *method, Pattern: p.String(), BlockSize: res.BlockSize, Iterations: res.Iterations,
		ProxyLoss: res.ProxyLoss, NonzeroFraction: res.NonzeroFraction(), OverheadFraction: res.OverheadFraction(),
		Seconds: secs,
	}
	if !math.IsNaN(res.OutputError) {
		rep.OutputError = &res.OutputError
	}
	if *history {
		rep.History = res.History
	}
	if *output != "" {
		if err := writeLayerResult(*output, outType, res); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	return enc.Encode(rep)
}

// layerFromFile builds the methods' input from a layer file: statistics from X
// when present (with the full H only when needed, its Gram products in
// precision gram), else from the stored Hessian.
func layerFromFile(lf *datasets.LayerFile, needH bool, gram methods.Precision) (*methods.Layer, error) {
	l := &methods.Layer{W: lf.W}
	var err error
	switch {
	case lf.X != nil:
		l.X = lf.X
		l.Stats, err = methods.StatsFromActivationsGram(lf.X, needH, gram)
	default:
		if needH && lf.H == nil {
			return nil, fmt.Errorf("%s: sparsegpt needs tensor \"X\" or \"H\"; only \"hessian_diag\" is present", lf.Path)
		}
		l.Stats, err = methods.StatsFromHessian(lf.Hdiag, lf.H)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", lf.Path, err)
	}
	return l, nil
}

// writeLayerResult writes Ŵ, the mask and, for ARMOR, the folded factors.
func writeLayerResult(path string, dt datasets.DType, res *methods.Result) error {
	var ts []datasets.Tensor
	add := func(name string, t datasets.Tensor, err error) error {
		if err != nil {
			return fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		ts = append(ts, t)
		return nil
	}
	t, err := datasets.TensorFromMatrix("W_hat", dt, res.What)
	if err := add("W_hat", t, err); err != nil {
		return err
	}
	t, err = datasets.TensorFromUint8s("mask", []int{res.Mask.Rows, res.Mask.Cols}, res.Mask.Uint8s())
	if err := add("mask", t, err); err != nil {
		return err
	}
	if res.A != nil {
		factors := []struct {
			name string
			m    *mat.Dense
		}{{"A", res.A}, {"B", res.B}, {"core", res.Core}}
		for _, f := range factors {
			t, err := datasets.TensorFromMatrix(f.name, dt, f.m)
			if err := add(f.name, t, err); err != nil {
				return err
			}
		}
	}
	meta := map[string]string{"method": res.Method, "pattern": res.Pattern.String()}
	return datasets.WriteSafetensors(path, ts, meta)
}
