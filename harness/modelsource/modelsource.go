// Package modelsource plugs whole Llama models into the sweep harness.
//
//   - Open is the harness's model source (registered with
//     source.RegisterModel in init): it loads the checkpoint (llama2.c,
//     Hugging Face or factorized), lists the selected projections of the
//     selected blocks, and on the first Load runs the calibration windows
//     through the unpruned model once (the dense protocol) to collect every
//     listed layer's statistics with the full H.
//   - RunModelCells computes the cells of Kind "model" from which the
//     harness renders its perplexity table: the dense model and every
//     method of the config pruned on all linear layers of all blocks, each
//     evaluated on the config's evaluation.perplexity corpora, with the
//     parameters stored relative to dense.
//
// The calibration text follows the project's protocol: the first half of
// the corpus's non-empty lines, tokenized line by line with one BOS, cut
// into calibration.sequences windows of calibration.length tokens from the
// start. An evaluation corpus that is the calibration corpus is evaluated
// on its second half only.
package modelsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/source"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/pipeline"
)

func init() { source.RegisterModel(Open) }

// Source is a model source: the layers of a checkpoint with statistics
// from calibration text.
type Source struct {
	spec      source.ModelSpec
	ckpt, tok string // resolved paths
	corpus    string
	format    string
	m         *model.Model
	enc       pipeline.Encoder
	bos       int
	id        string
	infos     []source.Info

	once  sync.Once
	stats map[string]*methods.Stats
	err   error
}

var _ source.Source = (*Source)(nil)

// knownHub maps the file names of the hub artifacts the project knows to
// their hub references, so that a checkpoint found neither at its path nor
// under the data root is downloaded (into the cache) when its name is one
// of these.
var knownHub = map[string]datasets.HubRef{
	"stories260K.bin": datasets.HubStories260K,
	"tok512.bin":      datasets.HubStories260KTok,
	"stories15M.bin":  datasets.HubStories15M,
}

// locate finds a file at its path, under the data root, or — for a known
// hub artifact, when downloads are allowed ($ARMOR_OFFLINE unset) — in the
// download cache, fetching it once.
func locate(root, path, what string) (string, error) {
	p, err := datasets.LocateUnderRoot(root, path, what)
	if err == nil {
		return p, nil
	}
	ref, ok := knownHub[filepath.Base(path)]
	if !ok || os.Getenv("ARMOR_OFFLINE") != "" {
		return "", err
	}
	d := &datasets.Downloader{Progress: os.Stderr}
	p, derr := d.Fetch(context.Background(), ref)
	if derr != nil {
		return "", fmt.Errorf("%w; downloading %s also failed: %v", err, ref, derr)
	}
	return p, nil
}

// Open implements source.ModelOpener. Paths that do not exist are looked
// for under the data root (source.model.data_root, else $ARMOR_DATA) and, for known hub artifacts
// (stories260K.bin, tok512.bin, stories15M.bin), in the download cache.
func Open(spec source.ModelSpec) (source.Source, error) {
	root := datasets.DataRoot(spec.DataRoot)
	s := &Source{spec: spec}
	var err error
	if s.ckpt, err = locate(root, spec.Checkpoint, "checkpoint"); err != nil {
		return nil, err
	}
	if spec.Tokenizer != "" {
		if s.tok, err = locate(root, spec.Tokenizer, "tokenizer"); err != nil {
			return nil, err
		}
	}
	if spec.Calibration.Corpus == "" {
		return nil, fmt.Errorf("model source needs calibration.corpus")
	}
	if s.corpus, err = datasets.LocateUnderRoot(root, spec.Calibration.Corpus, "calibration corpus"); err != nil {
		return nil, err
	}
	if s.m, s.format, err = pipeline.LoadModel(s.ckpt); err != nil {
		return nil, err
	}
	if s.enc, s.bos, s.tok, err = pipeline.LoadTokenizer(s.tok, s.ckpt, s.m.Config().VocabSize); err != nil {
		return nil, err
	}
	if s.id, err = identity(s.ckpt, s.tok, s.corpus); err != nil {
		return nil, err
	}
	s.id = hashString(s.id, spec.Calibration.Sequences, spec.Calibration.Length)
	cfg := s.m.Config()
	blocks := spec.Layers
	if len(blocks) == 0 {
		for i := 0; i < cfg.NLayers; i++ {
			blocks = append(blocks, i)
		}
	}
	projs := spec.Projections
	if len(projs) == 0 {
		projs = model.Projections
	}
	for _, b := range blocks {
		if b < 0 || b >= cfg.NLayers {
			return nil, fmt.Errorf("source.model.layers: block %d outside [0, %d) of %s", b, cfg.NLayers, s.ckpt)
		}
		for _, p := range model.Projections {
			if !slices.Contains(projs, p) {
				continue
			}
			name := model.LinearName(b, p)
			l, err := s.m.Weights().Linear(name)
			if err != nil {
				return nil, err
			}
			s.infos = append(s.infos, source.Info{Name: name, DOut: l.Out, DIn: l.In, Identity: hashString(s.id, name)})
		}
	}
	return s, nil
}

// Kind implements source.Source.
func (s *Source) Kind() string { return "model" }

// Note implements source.Source.
func (s *Source) Note() string { return "" }

// Describe implements source.Source.
func (s *Source) Describe() string {
	c := s.m.Config()
	return fmt.Sprintf("model: %s (%s; dim %d, hidden %d, %d blocks), calibration %d×%d tokens from the first half of %s (dense protocol)",
		s.ckpt, s.format, c.Dim, c.HiddenDim, c.NLayers, s.spec.Calibration.Sequences, s.spec.Calibration.Length, filepath.Base(s.corpus))
}

// Layers implements source.Source.
func (s *Source) Layers() ([]source.Info, error) { return s.infos, nil }

// Model returns the dense model.
func (s *Source) Model() *model.Model { return s.m }

// Calibration returns the calibration windows.
func (s *Source) Calibration() ([][]int, error) {
	lines, err := datasets.ReadLines(s.corpus)
	if err != nil {
		return nil, err
	}
	cal, _ := datasets.SplitTinyStories(lines)
	w, err := datasets.CalibrationWindows(pipeline.Stream(s.enc, cal, s.bos), s.spec.Calibration.Sequences, s.spec.Calibration.Length)
	if err != nil {
		return nil, fmt.Errorf("calibration corpus %s (first half): %w", s.corpus, err)
	}
	return w, nil
}

// Load implements source.Source.
func (s *Source) Load(name string) (*source.Layer, error) {
	var info *source.Info
	for i := range s.infos {
		if s.infos[i].Name == name {
			info = &s.infos[i]
		}
	}
	if info == nil {
		return nil, fmt.Errorf("model source %s: no selected layer %q", s.ckpt, name)
	}
	s.once.Do(func() {
		var cal [][]int
		if cal, s.err = s.Calibration(); s.err != nil {
			return
		}
		names := make([]string, len(s.infos))
		for i, in := range s.infos {
			names[i] = in.Name
		}
		s.stats, s.err = pipeline.CollectStats(s.m, cal, names, true, 0)
	})
	if s.err != nil {
		return nil, s.err
	}
	l, err := s.m.Weights().Linear(name)
	if err != nil {
		return nil, err
	}
	lw := l.Float32s()
	w := make([]float64, len(lw))
	for i, x := range lw {
		w[i] = float64(x)
	}
	return &source.Layer{Info: *info, Layer: &methods.Layer{W: denseOf(l.Out, l.In, w), Stats: s.stats[name]}}, nil
}

// identity hashes the contents of the files (for a directory: every file
// in it).
func identity(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		files := []string{p}
		if st.IsDir() {
			ents, err := os.ReadDir(p)
			if err != nil {
				return "", err
			}
			files = files[:0]
			for _, e := range ents {
				if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s\x00", filepath.Base(f))
			_, err = io.Copy(h, fh)
			fh.Close()
			if err != nil {
				return "", fmt.Errorf("%s: %w", f, err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashString(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%v\x00", p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// corpusName is the label of an evaluation corpus in results.
func corpusName(path string, half bool) string {
	base := filepath.Base(path)
	name := map[string]string{"wiki.test.raw": "WikiText-2 test", "tinystories_val.txt": "TinyStories val"}[base]
	if name == "" {
		name = base
	}
	if half {
		name += " (eval half)"
	}
	return name
}

// evalCorpora tokenizes the evaluation corpora (second half only for the
// calibration corpus).
func (s *Source) evalCorpora(paths []string) ([]pipeline.Corpus, error) {
	root := datasets.DataRoot(s.spec.DataRoot)
	var out []pipeline.Corpus
	for _, p := range paths {
		rp, err := datasets.LocateUnderRoot(root, p, "evaluation corpus")
		if err != nil {
			return nil, err
		}
		lines, err := datasets.ReadLines(rp)
		if err != nil {
			return nil, err
		}
		half := sameFile(rp, s.corpus)
		if half {
			_, lines = datasets.SplitTinyStories(lines)
		}
		out = append(out, pipeline.Corpus{Name: corpusName(rp, half), Path: rp, Stream: pipeline.Stream(s.enc, lines, s.bos)})
	}
	return out, nil
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// configOf is what RunModelCells needs from a harness config.
func configOf(c *config.Config) (pats []methods.Pattern, corpora []string) {
	for _, p := range c.Evaluation.Perplexity {
		corpora = append(corpora, c.Resolve(p))
	}
	return c.Patterns(), corpora
}
