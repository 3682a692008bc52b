package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prunebench/armor/datasets"
)

func init() {
	commands["synth"] = command{summary: "write a random checkpoint with a real model's shapes (Hugging Face layout, sharded) for time and memory tests", run: runSynth}
}

func runSynth(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shape := fs.String("shape", "", "architecture: "+strings.Join(datasets.SynthShapeNames(), ", "))
	layers := fs.Int("layers", 0, "decoder blocks (0: the real depth)")
	vocab := fs.Int("vocab", 0, "vocabulary size (0: the real one; e.g. 512 to use the stories260K tokenizer)")
	seqLen := fs.Int("seq-len", 0, "context length (0: the real one)")
	dtype := fs.String("dtype", "bf16", "tensor dtype: bf16, f16 or f32")
	seed := fs.Uint64("seed", 0, "random seed (same seed, same bytes)")
	out := fs.String("out", "", "output directory")
	shard := byteSize(datasets.DefaultShardBytes)
	fs.Var(&shard, "shard-size", "shard limit (e.g. 5GB, 200MB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *shape == "" || *out == "" {
		return errors.New("flags --shape and --out are required")
	}
	s, err := datasets.LookupSynthShape(*shape)
	if err != nil {
		return fmt.Errorf("flag --shape: %w", err)
	}
	dt, err := parseDType(*dtype)
	if err != nil {
		return err
	}
	t0 := time.Now()
	cfg, err := datasets.WriteSynthHF(*out, s, datasets.SynthOptions{Layers: *layers, Vocab: *vocab, SeqLen: *seqLen, DType: dt, Seed: *seed, ShardBytes: int64(shard)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s shapes, %d blocks, dim %d, hidden %d, %d heads (%d KV), vocab %d, %s, in %.1fs\n",
		*out, s.Name, cfg.NLayers, cfg.Dim, cfg.HiddenDim, cfg.NHeads, cfg.NKVHeads, cfg.VocabSize, dt, time.Since(t0).Seconds())
	return nil
}

// parseDType reads a --dtype flag (bf16, f16, f32, any case).
func parseDType(s string) (datasets.DType, error) {
	dt := datasets.DType(strings.ToUpper(s))
	switch dt {
	case datasets.BF16, datasets.F16, datasets.F32:
		return dt, nil
	}
	return "", fmt.Errorf("flag --dtype %q: want bf16, f16 or f32", s)
}
