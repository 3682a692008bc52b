package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/pipeline"
)

func init() {
	commands["convert"] = command{summary: "convert a checkpoint between the llama2.c and Hugging Face layouts (RoPE q/k rows permuted)", run: runConvert}
}

func runConvert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "input: llama2.c .bin, Hugging Face directory or factorized ARMOR directory")
	out := fs.String("out", "", "output: a directory for --to hf, a .bin file for --to llama2c")
	to := fs.String("to", "", "output layout: hf or llama2c (default: hf for a .bin input, llama2c otherwise)")
	tok := fs.String("tokenizer", "", "llama2.c tokenizer.bin to convert along (--to hf writes tokenizer.json and copies tokenizer.bin)")
	dtype := fs.String("dtype", "F32", "--to hf: tensor dtype F32, F16 or BF16")
	shard := fs.Int64("shard-bytes", 0, "--to hf: split the weights into shards of at most this many bytes (0: one file)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkNonNegative(fs, "shard-bytes"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *in == "" || *out == "" {
		return errors.New("flags --in and --out are required")
	}
	format, _, err := pipeline.DetectFormat(*in)
	if err != nil {
		return err
	}
	if *to == "" {
		*to = "llama2c"
		if format == pipeline.FormatLlama2C {
			*to = "hf"
		}
	}
	m, _, err := pipeline.LoadModel(*in)
	if err != nil {
		return err
	}
	cfg, w := m.Config(), m.Weights()
	switch *to {
	case "hf":
		opt := datasets.HFSaveOptions{DType: datasets.DType(strings.ToUpper(*dtype)), ShardBytes: *shard}
		if err := datasets.SaveHF(*out, cfg, w, opt); err != nil {
			return err
		}
		if *tok != "" {
			if err := convertTokenizer(*tok, *out); err != nil {
				return err
			}
		}
	case "llama2c":
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		if err := datasets.SaveLlama2C(*out, &cfg, w); err != nil {
			return err
		}
		if *tok != "" && strings.HasSuffix(*tok, ".bin") {
			if err := copyFile(*tok, filepath.Join(filepath.Dir(*out), "tokenizer.bin")); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("flag --to %q: want hf or llama2c", *to)
	}
	fmt.Fprintf(stdout, "wrote %s (%s layout, RoPE %s) from %s (%s)\n", *out, *to, ropeName(*to), *in, format)
	return nil
}

func ropeName(to string) string {
	if to == "hf" {
		return "halves, q/k rows permuted"
	}
	return "interleaved pairs"
}

// convertTokenizer writes tokenizer.json (and a copy of tokenizer.bin) for
// a llama2.c tokenizer into dir.
func convertTokenizer(path, dir string) error {
	if !strings.HasSuffix(path, ".bin") {
		return copyFile(path, filepath.Join(dir, filepath.Base(path)))
	}
	t, err := datasets.LoadTokenizerBin(path)
	if err != nil {
		return err
	}
	js, err := t.ToJSON()
	if err != nil {
		return fmt.Errorf("tokenizer %s: %w", path, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), js, 0o644); err != nil {
		return err
	}
	return copyFile(path, filepath.Join(dir, "tokenizer.bin"))
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
