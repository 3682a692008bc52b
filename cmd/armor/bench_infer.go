package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prunebench/armor/infer"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/pipeline"
)

func init() {
	commands["bench-infer"] = command{summary: "time dense, 2:4 and ARMOR inference per layer shape and per model (JSON or md/csv/tex table)", run: runBenchInfer}
}

// inferRecord is one measured format at one shape (kind "layer") or one
// model (kind "model"), with its ratios to dense measured in the same run.
type inferRecord struct {
	Kind           string  `json:"kind"`
	Shape          string  `json:"shape"`
	Batch          int     `json:"batch"`
	BlockSize      int     `json:"block_size,omitempty"`
	Storage        string  `json:"storage"`
	Format         string  `json:"format"`
	Threads        int     `json:"threads"`
	SecondsPerCall float64 `json:"seconds_per_call"`
	SpeedupVsDense float64 `json:"speedup_vs_dense"`
	StoredBytes    int64   `json:"stored_bytes"`
	BytesVsDense   float64 `json:"bytes_vs_dense"`
	// TheorySpeedup is dense/format bytes moved (decode, batch 1) or
	// FLOPs (batch > 1); FractionOfTheory = SpeedupVsDense/TheorySpeedup.
	TheorySpeedup    float64 `json:"theory_speedup"`
	FractionOfTheory float64 `json:"fraction_of_theory"`
	// GBPerS is bytes moved per second (decode) and GFlopPerS FLOPs per
	// second; BandwidthGBPerS is the streaming-sum bandwidth of this run.
	GBPerS              float64 `json:"gb_per_s"`
	GFlopPerS           float64 `json:"gflop_per_s"`
	BandwidthGBPerS     float64 `json:"bandwidth_gb_per_s,omitempty"`
	FractionOfBandwidth float64 `json:"fraction_of_bandwidth,omitempty"`
	// SecondsSpread is (max − min)/median over the repetitions.
	SecondsSpread float64 `json:"seconds_spread"`
	// SecondsMin is the fastest repetition and SpeedupMinVsDense the ratio
	// of the fastest ones: on a shared host, the least disturbed figures.
	SecondsMin        float64 `json:"seconds_min"`
	SpeedupMinVsDense float64 `json:"speedup_min_vs_dense"`
	// Model records: decode tokens per second and resident weight bytes.
	TokensPerSecond float64 `json:"tokens_per_second,omitempty"`
	ResidentBytes   int64   `json:"resident_bytes,omitempty"`
}

func runBenchInfer(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor bench-infer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shapes := fs.String("shape", "4096x11008", "comma-separated layer shapes d_out x d_in (e.g. 4096x4096,11008x4096,4096x11008,14336x4096); empty for none")
	batches := fs.String("batch", "1", "comma-separated batch sizes (tokens per call; 1 = decode matvec)")
	blocks := fs.String("block-size", "128", "comma-separated ARMOR block sizes")
	storages := fs.String("storage", "f32", "comma-separated storages: f32, bf16")
	reps := fs.Int("reps", 5, "timed repetitions per format (formats interleaved; the median is reported)")
	minTime := fs.Duration("min-time", 300*time.Millisecond, "time per repetition")
	threads := fs.Int("threads", 0, "goroutines per call (0: GOMAXPROCS)")
	bwMB := fs.Int("bandwidth-mb", 1024, "size of the streaming-sum buffer that measures memory bandwidth (MiB; 0 skips)")
	modelPath := fs.String("model", "", "also time whole-model decode on this checkpoint (llama2.c .bin, HF dir or factorised dir), or synth:llama-2-7b for a random 7B-shaped model")
	layers := fs.Int("layers", 2, "decoder blocks of the synth: model")
	tokens := fs.Int("tokens", 16, "decoded tokens per whole-model timing")
	asJSON := fs.Bool("json", false, "print the records as a JSON array")
	table := fs.String("table", "md", "table format when not --json: md, csv or tex")
	seed := fs.Uint64("seed", 1, "seed of the random weights")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *reps < 1 {
		return errors.New("--reps must be ≥ 1")
	}
	bs, err := parseInts("--batch", *batches)
	if err != nil {
		return err
	}
	blks, err := parseInts("--block-size", *blocks)
	if err != nil {
		return err
	}
	var sts []infer.Storage
	for _, s := range splitList(*storages) {
		st, err := infer.ParseStorage(s)
		if err != nil {
			return fmt.Errorf("--storage: %w", err)
		}
		sts = append(sts, st)
	}
	var shp [][2]int
	for _, s := range splitList(*shapes) {
		o, i, ok := strings.Cut(s, "x")
		out, e1 := strconv.Atoi(o)
		in, e2 := strconv.Atoi(i)
		if !ok || e1 != nil || e2 != nil || out <= 0 || in <= 0 || in%4 != 0 {
			return fmt.Errorf("--shape %q: want d_out x d_in, positive, d_in a multiple of 4", s)
		}
		shp = append(shp, [2]int{out, in})
	}
	defer infer.SetThreads(infer.SetThreads(*threads))
	th := infer.Threads()
	var bw float64
	if *bwMB > 0 {
		bw = infer.Bandwidth(int64(*bwMB)<<20, *reps)
		fmt.Fprintf(stderr, "streaming-sum bandwidth: %.2f GB/s (%d MiB, %d threads)\n", bw/1e9, *bwMB, th)
	}
	var recs []inferRecord
	for _, sh := range shp {
		for _, st := range sts {
			for _, b := range blks {
				d, sp, fa, err := infer.Synthetic(sh[0], sh[1], b, st, *seed)
				if err != nil {
					return err
				}
				ops := []infer.Operator{d, sp, fa}
				for _, batch := range bs {
					recs = append(recs, timeLayer(ops, sh, batch, b, st, th, *reps, *minTime, bw)...)
				}
				d, sp, fa, ops = nil, nil, nil, nil
				runtime.GC()
			}
		}
	}
	if *modelPath != "" {
		mr, err := benchModel(*modelPath, *layers, blks[0], sts[0], *seed, *tokens, *reps, th, stderr)
		if err != nil {
			return err
		}
		recs = append(recs, mr...)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(recs)
	}
	return writeInferTable(stdout, *table, recs)
}

// timeLayer times dense, 2:4 and ARMOR interleaved, reps rounds.
func timeLayer(ops []infer.Operator, sh [2]int, batch, block int, st infer.Storage, th, reps int, minTime time.Duration, bw float64) []inferRecord {
	times := make([][]float64, len(ops))
	for range reps {
		for k, op := range ops {
			times[k] = append(times[k], infer.TimeCalls(op, batch, 1, minTime))
		}
	}
	recs := make([]inferRecord, len(ops))
	for k, op := range ops {
		med, spread := medianSpread(times[k])
		r := inferRecord{
			SecondsMin: slices.Min(times[k]),
			Kind:       "layer", Shape: fmt.Sprintf("%dx%d", sh[0], sh[1]), Batch: batch, Storage: st.String(),
			Format: op.Format(), Threads: th, SecondsPerCall: med, SecondsSpread: spread, StoredBytes: op.StoredBytes(),
			GBPerS: float64(infer.DecodeBytes(op, batch)) / med / 1e9, GFlopPerS: infer.Flops(op, batch) / med / 1e9,
		}
		if op.Format() == "armor" {
			r.BlockSize = block
		}
		if bw > 0 && batch == 1 {
			r.BandwidthGBPerS = bw / 1e9
			r.FractionOfBandwidth = r.GBPerS * 1e9 / bw
		}
		recs[k] = r
	}
	d := recs[0]
	for k := range recs {
		r := &recs[k]
		r.SpeedupVsDense = d.SecondsPerCall / r.SecondsPerCall
		r.SpeedupMinVsDense = d.SecondsMin / r.SecondsMin
		r.BytesVsDense = float64(r.StoredBytes) / float64(d.StoredBytes)
		if batch == 1 {
			r.TheorySpeedup = float64(infer.DecodeBytes(ops[0], 1)) / float64(infer.DecodeBytes(ops[k], 1))
		} else {
			r.TheorySpeedup = infer.Flops(ops[0], batch) / infer.Flops(ops[k], batch)
		}
		r.FractionOfTheory = r.SpeedupVsDense / r.TheorySpeedup
	}
	return recs
}

func medianSpread(t []float64) (float64, float64) {
	s := append([]float64(nil), t...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	med := s[len(s)/2]
	return med, (s[len(s)-1] - s[0]) / med
}

// benchModel times whole-model decode of the dense, 2:4 and ARMOR forms
// of a checkpoint (or a random model of a named shape).
func benchModel(path string, layers, block int, st infer.Storage, seed uint64, tokens, reps, th int, stderr io.Writer) ([]inferRecord, error) {
	var (
		m     *model.Model
		err   error
		shape = path
	)
	if name, ok := strings.CutPrefix(path, "synth:"); ok {
		cfg, err := synthShape(name, layers)
		if err != nil {
			return nil, err
		}
		shape = fmt.Sprintf("%s/%d-blocks", name, layers)
		fmt.Fprintf(stderr, "building a random %s model…\n", shape)
		if m, err = infer.RandomModel(cfg, seed); err != nil {
			return nil, err
		}
	} else if m, _, err = pipeline.LoadModel(path); err != nil {
		return nil, err
	}
	dense, sparse, armor, err := infer.TimingForms(m, block, st, seed)
	if err != nil {
		return nil, err
	}
	forms := []*model.Model{dense, sparse, armor}
	names := []string{"dense", "2:4", "armor"}
	prompt := []int{1, 2, 3, 4}
	tps := make([][]float64, len(forms))
	for range reps {
		for k, f := range forms {
			r, err := infer.DecodeTokensPerSecond(f, prompt, min(tokens, f.Config().SeqLen-len(prompt)))
			if err != nil {
				return nil, err
			}
			tps[k] = append(tps[k], 1/r)
		}
	}
	var recs []inferRecord
	for k, f := range forms {
		med, spread := medianSpread(tps[k])
		mem := infer.ResidentBytes(f)
		r := inferRecord{Kind: "model", Shape: shape, Batch: 1, Storage: st.String(), Format: names[k], Threads: th,
			SecondsPerCall: med, SecondsSpread: spread, TokensPerSecond: 1 / med, ResidentBytes: mem.Total(), StoredBytes: mem.Linear}
		if k == 2 {
			r.BlockSize = block
		}
		recs = append(recs, r)
	}
	for k := range recs {
		recs[k].SpeedupVsDense = recs[0].SecondsPerCall / recs[k].SecondsPerCall
		recs[k].BytesVsDense = float64(recs[k].StoredBytes) / float64(recs[0].StoredBytes)
		recs[k].TheorySpeedup = float64(recs[0].ResidentBytes) / float64(recs[k].ResidentBytes)
		recs[k].FractionOfTheory = recs[k].SpeedupVsDense / recs[k].TheorySpeedup
	}
	return recs, nil
}

// synthShape is a named real model shape with the given number of blocks.
func synthShape(name string, layers int) (model.Config, error) {
	shapes := map[string]model.Config{
		"llama-2-7b": {Dim: 4096, HiddenDim: 11008, NHeads: 32, NKVHeads: 32, VocabSize: 32000, SeqLen: 512},
		"llama-3-8b": {Dim: 4096, HiddenDim: 14336, NHeads: 32, NKVHeads: 8, VocabSize: 128256, SeqLen: 512, RopeTheta: 500000},
	}
	cfg, ok := shapes[name]
	if !ok {
		return cfg, fmt.Errorf("synth shape %q: want llama-2-7b or llama-3-8b", name)
	}
	if layers < 1 {
		return cfg, fmt.Errorf("--layers %d: want ≥ 1", layers)
	}
	cfg.NLayers = layers
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s %q: want positive integers", flagName, f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty", flagName)
	}
	return out, nil
}

// writeInferTable renders the records as a Markdown, CSV or LaTeX table.
func writeInferTable(w io.Writer, kind string, recs []inferRecord) error {
	head := []string{"kind", "shape", "batch", "storage", "format", "b", "seconds/call", "spread", "× dense", "× dense (fastest)", "theory ×", "% of theory", "bytes vs dense", "GB/s", "% of bandwidth", "tokens/s", "resident MiB"}
	rows := [][]string{}
	f := func(v float64, p int) string {
		if v == 0 || math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', p, 64)
	}
	for _, r := range recs {
		b := ""
		if r.BlockSize > 0 {
			b = strconv.Itoa(r.BlockSize)
		}
		mib := ""
		if r.ResidentBytes > 0 {
			mib = f(float64(r.ResidentBytes)/(1<<20), 1)
		}
		gbs := f(r.GBPerS, 2)
		if r.Kind == "model" {
			gbs = ""
		}
		rows = append(rows, []string{r.Kind, r.Shape, strconv.Itoa(r.Batch), r.Storage, r.Format, b,
			strconv.FormatFloat(r.SecondsPerCall, 'g', 4, 64), f(100*r.SecondsSpread, 1) + "%", f(r.SpeedupVsDense, 3), f(r.SpeedupMinVsDense, 3),
			f(r.TheorySpeedup, 3), f(100*r.FractionOfTheory, 1), f(r.BytesVsDense, 3), gbs, f(100*r.FractionOfBandwidth, 1), f(r.TokensPerSecond, 3), mib})
	}
	switch kind {
	case "md":
		fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
		fmt.Fprintln(w, "|"+strings.Repeat(" --- |", len(head)))
		for _, r := range rows {
			fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
		}
	case "csv":
		fmt.Fprintln(w, strings.Join(head, ","))
		for _, r := range rows {
			fmt.Fprintln(w, strings.Join(r, ","))
		}
	case "tex":
		fmt.Fprintln(w, `\begin{tabular}{`+strings.Repeat("l", len(head))+`}`)
		esc := strings.NewReplacer("%", `\%`, "×", `$\times$`, "_", `\_`)
		fmt.Fprintln(w, esc.Replace(strings.Join(head, " & "))+` \\ \hline`)
		for _, r := range rows {
			fmt.Fprintln(w, esc.Replace(strings.Join(r, " & "))+` \\`)
		}
		fmt.Fprintln(w, `\end{tabular}`)
	default:
		return fmt.Errorf("--table %q: want md, csv or tex", kind)
	}
	return nil
}
