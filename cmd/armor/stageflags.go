package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/pipeline"
)

// The flags that prune, calibrate and assemble share.

// inputFlags choose the model, its tokenizer and the texts (calibration
// and evaluation).
type inputFlags struct {
	model, tokenizer, dataRoot, calText, wiki *string
	calWindows, calLength                     *int
}

// addInputFlags registers the model, tokenizer and calibration flags.
func addInputFlags(fs *flag.FlagSet) *inputFlags {
	return &inputFlags{
		model:      fs.String("model", "", "model: llama2.c .bin, Hugging Face directory or factorized directory (default: stories260K under $ARMOR_DATA)"),
		tokenizer:  fs.String("tokenizer", "", "tokenizer .bin or .json (default: beside the model, or stories260K's under $ARMOR_DATA)"),
		dataRoot:   fs.String("data-root", "", "data root holding text/ (default $"+datasets.DataRootEnv+")"),
		calText:    fs.String("calibration", "", "calibration text; its first half of lines is used, as for TinyStories (default: TinyStories under the data root)"),
		calWindows: fs.Int("cal-windows", datasets.DefaultCalibrationWindows, "calibration windows"),
		calLength:  fs.Int("cal-length", datasets.DefaultCalibrationLength, "tokens per calibration window"),
	}
}

// addWikiFlag registers --wikitext (for the commands that evaluate).
func (f *inputFlags) addWikiFlag(fs *flag.FlagSet) {
	f.wiki = fs.String("wikitext", "", "WikiText-2 test file (default: under the data root; \"none\" to skip)")
}

// resolve fills the default model (and its tokenizer) and, when needCal,
// the calibration text; with eval, the WikiText-2 file.
func (f *inputFlags) resolve(needCal, eval bool) error {
	root := datasets.DataRoot(*f.dataRoot)
	var err error
	if *f.model == "" {
		if *f.model, err = datasets.FindInDataRoot(root, datasets.RelStories260K, "default model stories260K"); err != nil {
			return fmt.Errorf("no --model given: %w", err)
		}
		if *f.tokenizer == "" {
			if *f.tokenizer, err = datasets.FindInDataRoot(root, datasets.RelStories260KTok, "stories260K tokenizer"); err != nil {
				return err
			}
		}
	}
	if needCal && *f.calText == "" {
		if *f.calText, err = datasets.FindInDataRoot(root, datasets.RelTinyStoriesValid, "TinyStories text (calibration and evaluation halves)"); err != nil {
			return fmt.Errorf("no --calibration given: %w", err)
		}
	}
	if f.wiki != nil {
		if *f.wiki == "" && eval {
			if *f.wiki, err = datasets.FindInDataRoot(root, datasets.RelWikiText2Test, "WikiText-2 test split"); err != nil {
				return fmt.Errorf("no --wikitext given: %w (or pass --wikitext none)", err)
			}
		}
		if *f.wiki == "none" || !eval {
			*f.wiki = ""
		}
	}
	return nil
}

// loaded is what load returns.
type loaded struct {
	m       *model.Model
	tokFile string
	texts   *pipeline.Texts
	cal     [][]int
}

// load reads the model, the tokenizer and the texts, and cuts the
// calibration windows when withCal is set.
func (f *inputFlags) load(withCal bool) (*loaded, error) {
	m, _, err := pipeline.LoadModel(*f.model)
	if err != nil {
		return nil, err
	}
	return f.loadFor(m, withCal)
}

// loadFor is load for the already loaded model m.
func (f *inputFlags) loadFor(m *model.Model, withCal bool) (*loaded, error) {
	enc, bos, tokFile, err := pipeline.LoadTokenizer(*f.tokenizer, *f.model, m.Config().VocabSize)
	if err != nil {
		return nil, err
	}
	wiki := ""
	if f.wiki != nil {
		wiki = *f.wiki
	}
	texts, err := pipeline.LoadTexts(enc, bos, wiki, *f.calText)
	if err != nil {
		return nil, err
	}
	l := &loaded{m: m, tokFile: tokFile, texts: texts}
	if withCal {
		if l.cal, err = datasets.CalibrationWindows(texts.Calibration, *f.calWindows, *f.calLength); err != nil {
			return nil, fmt.Errorf("%s: %w", *f.calText, err)
		}
	}
	return l, nil
}

// methodFlags choose the method and its settings.
type methodFlags struct {
	method, protocol, pattern, precision *string
	blockSize, iters                     *int
	seed                                 *uint64
}

// addMethodFlags registers the method flags.
func addMethodFlags(fs *flag.FlagSet) *methodFlags {
	def := methods.DefaultConfig()
	return &methodFlags{
		method:    fs.String("method", "", "pruning method: magnitude, wanda, sparsegpt, nowag or armor"),
		protocol:  fs.String("protocol", "", "calibration protocol: dense (statistics from the unpruned model) or sequential (block i+1 calibrated on the pruned blocks' output); default: dense for nowag/armor, sequential otherwise"),
		pattern:   fs.String("pattern", "2:4", "N:M sparsity pattern"),
		blockSize: fs.Int("block-size", def.ARMOR.BlockSize, "armor: diagonal block size of A and B (a multiple of M)"),
		iters:     fs.Int("iters", def.ARMOR.Iters, "armor: iterations per layer"),
		seed:      fs.Uint64("seed", 0, "armor: random seed of the group selection"),
		precision: fs.String("precision", string(methods.Float64), "armor and sparsegpt: float64 or float32 (half the memory, faster): armor's working set; sparsegpt's factorization, column loop and the Gram products of H (and so of the layer output errors)"),
	}
}

// config checks the method flags and returns the method configuration
// and the protocol ("" when --protocol was not given and explicit is set,
// else the method's default).
func (f *methodFlags) config(explicit bool) (methods.Config, pipeline.Protocol, error) {
	cfg := methods.DefaultConfig()
	if *f.method == "" {
		return cfg, "", fmt.Errorf("flag --method is required (magnitude, wanda, sparsegpt, nowag or armor)")
	}
	p, err := methods.ParsePattern(*f.pattern)
	if err != nil {
		return cfg, "", fmt.Errorf("flag --pattern: %w", err)
	}
	cfg.Pattern = p
	cfg.ARMOR.BlockSize, cfg.ARMOR.Iters, cfg.ARMOR.Seed = *f.blockSize, *f.iters, *f.seed
	cfg.ARMOR.Precision = methods.Precision(*f.precision)
	cfg.SparseGPT.Precision = methods.Precision(*f.precision)
	switch *f.method {
	case "armor":
		if err := cfg.ARMOR.Validate(p); err != nil {
			return cfg, "", fmt.Errorf("flags: %w", err)
		}
	case "sparsegpt":
		if err := cfg.SparseGPT.Validate(p); err != nil {
			return cfg, "", fmt.Errorf("flags: %w", err)
		}
	}
	if *f.protocol == "" {
		if explicit {
			return cfg, "", nil
		}
		return cfg, pipeline.DefaultProtocol(*f.method), nil
	}
	proto, err := pipeline.ParseProtocol(*f.protocol)
	if err != nil {
		return cfg, "", fmt.Errorf("flag --protocol: %w", err)
	}
	return cfg, proto, nil
}

// parseShardFlag reads "i/n" with 0 ≤ i < n for the named flag.
func parseShardFlag(flagName, s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("flag --%s %q: want i/n with 0 ≤ i < n, e.g. 0/4", flagName, s)
	}
	return i, n, nil
}

// visited reports whether the named flag was set on the command line.
func visited(fs *flag.FlagSet, name string) bool {
	seen := false
	fs.Visit(func(f *flag.Flag) { seen = seen || f.Name == name })
	return seen
}

// exportFlags choose the dtype and sharding of the exported model.
type exportFlags struct {
	dtype *string
	shard byteSize
}

// addExportFlags registers --dtype and --shard-size.
func addExportFlags(fs *flag.FlagSet) *exportFlags {
	e := &exportFlags{dtype: fs.String("dtype", "", "--out: tensor dtype bf16, f16 or f32 (default: the input's)")}
	fs.Var(&e.shard, "shard-size", "--out: shard limit of the Hugging Face export, e.g. 5GB (default: the input's largest shard, else 5GB)")
	return e
}

// options are the export options of the model m read from modelPath, as
// the flags change them.
func (e *exportFlags) options(modelPath string, m *model.Model) (pipeline.ExportOptions, error) {
	opt := pipeline.ExportOptionsFor(modelPath, m)
	if *e.dtype != "" {
		var err error
		if opt.DType, err = parseDType(*e.dtype); err != nil {
			return opt, err
		}
	}
	if e.shard > 0 {
		opt.ShardBytes = int64(e.shard)
	}
	return opt, nil
}
