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
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/pipeline"
)

func init() {
	commands["convert"] = command{summary: "convert a checkpoint between the llama2.c, Hugging Face and llama.cpp GGUF layouts (RoPE q/k rows permuted)", run: runConvert}
}

func runConvert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "input: llama2.c .bin, Hugging Face directory or factorized ARMOR directory")
	out := fs.String("out", "", "output: a directory for --to hf, a .bin file for --to llama2c, a .gguf file for --to gguf")
	to := fs.String("to", "", "output layout: hf, llama2c or gguf (default: hf for a .bin input, llama2c otherwise)")
	tok := fs.String("tokenizer", "", "tokenizer to convert along (default for an hf or factorized input: its own tokenizer files); --to hf writes tokenizer.json, tokenizer_config.json and, for a llama2.c tokenizer.bin, a copy of it; --to gguf needs a tokenizer.bin")
	dtype := fs.String("dtype", "", "tensor dtype: --to hf f32, f16 or bf16 (default: the input's); --to gguf f32 or f16 (default f32)")
	var shard byteSize
	fs.Var(&shard, "shard-size", "--to hf: split the weights into shards of at most this size, e.g. 5GB or 200MB (default: one file)")
	fs.Var(&shard, "shard-bytes", "same as --shard-size")
	if err := fs.Parse(args); err != nil {
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
	meta, err := pruningMetadata(*in, format)
	if err != nil {
		return err
	}
	switch *to {
	case "hf":
		dt := datasets.WeightsDType(w)
		if *dtype != "" {
			if dt, err = parseDType(*dtype); err != nil {
				return err
			}
		}
		opt := datasets.HFSaveOptions{DType: dt, ShardBytes: int64(shard), Metadata: meta}
		if err := datasets.SaveHF(*out, cfg, w, opt); err != nil {
			return err
		}
		if *tok != "" {
			if _, err := pipeline.WriteTokenizerFiles(*out, *tok, cfg.SeqLen); err != nil {
				return err
			}
		} else if format != pipeline.FormatLlama2C {
			if _, err := pipeline.CopyTokenizerFiles(*in, *out); err != nil {
				return err
			}
		}
	case "gguf":
		tb, err := pipeline.GGUFTokenizer(*tok, *in, cfg.VocabSize)
		if err != nil {
			return err
		}
		name := filepath.Base(strings.TrimSuffix(*in, string(filepath.Separator)))
		if err := pipeline.ExportGGUF(*out, m, tb, ggufDType(*dtype), name, meta); err != nil {
			return err
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
		return fmt.Errorf("flag --to %q: want hf, llama2c or gguf", *to)
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

// pruningMetadata is the pruning record of a converted model, carried
// into the output: an hf input's safetensors metadata (without "format"),
// a factorized input's method and protocol with a note that the output
// holds A·S·B multiplied out (pipeline.HFMetadata), nothing for llama2.c.
func pruningMetadata(in, format string) (map[string]string, error) {
	switch format {
	case pipeline.FormatHF:
		meta, err := pipeline.ReadHFMetadata(in)
		if err != nil {
			return nil, err
		}
		delete(meta, "format")
		return meta, nil
	case pipeline.FormatFactored:
		_, _, man, err := pipeline.LoadFactored(in)
		if err != nil {
			return nil, err
		}
		pat, err := methods.ParsePattern(man.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s: pattern: %w", in, err)
		}
		return pipeline.HFMetadata(&pipeline.Pruned{Method: man.Method, Protocol: man.Protocol, Pattern: pat}), nil
	}
	return nil, nil
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

// ggufDType is the GGUF tensor type of --dtype: F32 unless asked otherwise.
func ggufDType(flag string) datasets.DType {
	if flag == "" {
		return datasets.F32
	}
	return datasets.DType(strings.ToUpper(flag))
}
