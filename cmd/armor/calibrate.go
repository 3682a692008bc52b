package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/pipeline"
)

func init() {
	commands["calibrate"] = command{summary: "staged pruning, step 1: calibration statistics of every linear layer, one file per block (see docs/cluster.md)", run: runCalibrate}
}

// runCalibrate is `armor calibrate --model M --out STATS`.
func runCalibrate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor calibrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := addInputFlags(fs)
	out := fs.String("out", "", "write the statistics here: block-<k>.safetensors, one file per decoder block (required)")
	protocol := fs.String("protocol", "", "dense (every block from the unpruned model, one pass) or sequential (one --block at a time, on the pruned blocks before it); default: the --method's default, else dense")
	method := fs.String("method", "", "the method the statistics are for (optional): sparsegpt gets the full H, and its --precision float32 float32 Gram products, as in armor prune")
	precision := fs.String("precision", string(methods.Float64), "with --method sparsegpt: float64 or float32 Gram products of H")
	fullH := fs.Bool("full-h", false, "also accumulate the full H = (2/n) Σ x xᵀ of every input (needed by sparsegpt and for layer output errors; O(d_in²) per input)")
	block := fs.Int("block", -1, "sequential protocol: the block to calibrate, on the pruned blocks before it (their parts: --parts)")
	parts := fs.String("parts", "", "sequential protocol: the layer parts of the blocks before --block")
	verbose := fs.Bool("v", false, "log every block to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *out == "" {
		return fmt.Errorf("flag --out is required: the directory of the statistics")
	}
	proto := pipeline.ProtocolDense
	if *method != "" {
		if _, err := methods.New(*method, methods.DefaultConfig()); err != nil {
			return fmt.Errorf("flag --method: %w", err)
		}
		proto = pipeline.DefaultProtocol(*method)
	}
	if *protocol != "" {
		var err error
		if proto, err = pipeline.ParseProtocol(*protocol); err != nil {
			return fmt.Errorf("flag --protocol: %w", err)
		}
	}
	gram := methods.Float64
	switch methods.Precision(*precision) {
	case methods.Float64:
	case methods.Float32:
		if *method == "sparsegpt" {
			gram = methods.Float32
		}
	default:
		return fmt.Errorf("flag --precision %q: want float64 or float32", *precision)
	}
	if err := in.resolve(true, false); err != nil {
		return err
	}
	t0 := time.Now()
	ld, err := in.load(true)
	if err != nil {
		return err
	}
	id, err := pipeline.ModelID(*in.model)
	if err != nil {
		return err
	}
	opt := pipeline.CalibrateOptions{
		Model: *in.model, ModelID: id, Calibration: ld.cal, Block: *block, Parts: *parts,
		Settings: pipeline.CalibrationSettings{Protocol: proto, Corpus: *in.calText, Tokenizer: ld.tokFile,
			Windows: *in.calWindows, Length: *in.calLength, FullH: *fullH || *method == "sparsegpt", Gram: gram},
	}
	if *verbose {
		opt.Log = func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }
	}
	files, err := pipeline.Calibrate(ld.m, *out, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "calibrated %d blocks (%s protocol, %d × %d tokens) in %.1fs\n", len(files), proto, *in.calWindows, *in.calLength, time.Since(t0).Seconds())
	return json.NewEncoder(stdout).Encode(struct {
		Protocol string   `json:"protocol"`
		FullH    bool     `json:"full_h"`
		Files    []string `json:"files"`
	}{string(proto), opt.Settings.FullH, files})
}
