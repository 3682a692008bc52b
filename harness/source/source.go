package source

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/synthetic"
	"github.com/prunebench/armor/methods"
)

// Info describes one layer without loading it.
type Info struct {
	// Name identifies the layer within the source, e.g. "layers.0.q_proj".
	Name string
	// DOut, DIn are W's shape.
	DOut, DIn int
	// Identity changes whenever the layer's W or calibration data could
	// change: a content hash, or a hash of the generator and its
	// parameters. It is part of every cell key.
	Identity string
}

// Layer is a loaded layer, ready for methods.Method.Prune. Stats include
// the full H, so every method can run on it. Layers are shared read-only
// between workers.
type Layer struct {
	Info
	*methods.Layer
}

// Source is where a sweep's layers come from.
type Source interface {
	// Kind is "synthetic", "safetensors", "model" or "builtin".
	Kind() string
	// Describe is a one-line description recorded with every cell.
	Describe() string
	// Note is a warning for the user (e.g. that a model source fell back to
	// the builtin layers), or "".
	Note() string
	// Layers lists every layer in a fixed order.
	Layers() ([]Info, error)
	// Load returns the named layer.
	Load(name string) (*Layer, error)
}

// ModelSpec is everything a model source needs from the config, with
// paths already resolved.
type ModelSpec struct {
	Checkpoint  string
	Tokenizer   string
	Layers      []int
	Projections []string
	Calibration config.Calibration
	// DataRoot is the configured local mirror ("" = $ARMOR_DATA).
	DataRoot string
	// Perplexity lists the corpora to evaluate perplexity on.
	Perplexity []string
}

// ModelOpener opens a model source. It should fail fast (checkpoint missing
// or unreadable) and defer the forward passes to Load or a cached first
// call, so that listing layers stays cheap.
type ModelOpener func(ModelSpec) (Source, error)

var (
	modelMu     sync.Mutex
	modelOpener ModelOpener
)

// RegisterModel installs the implementation of model sources. The model
// code calls it from an init function; a later call replaces an earlier one.
func RegisterModel(open ModelOpener) {
	modelMu.Lock()
	defer modelMu.Unlock()
	modelOpener = open
}

// Open returns the source of c.
func Open(c *config.Config) (Source, error) {
	switch {
	case c.Source.Synthetic != nil:
		return NewSynthetic(*c.Source.Synthetic), nil
	case c.Source.Safetensors != nil:
		files := make([]string, len(c.Source.Safetensors.Files))
		for i, f := range c.Source.Safetensors.Files {
			files[i] = c.Resolve(f)
		}
		return NewSafetensors(files)
	case c.Source.Model != nil:
		m := c.Source.Model
		spec := ModelSpec{
			Checkpoint: c.Resolve(m.Checkpoint), Tokenizer: c.Resolve(m.Tokenizer),
			Layers: m.Layers, Projections: m.Projections, Calibration: c.Calibration,
		}
		if m.DataRoot != "" {
			spec.DataRoot = c.Resolve(m.DataRoot)
		}
		spec.Calibration.Corpus = c.Resolve(spec.Calibration.Corpus)
		for _, p := range c.Evaluation.Perplexity {
			spec.Perplexity = append(spec.Perplexity, c.Resolve(p))
		}
		modelMu.Lock()
		open := modelOpener
		modelMu.Unlock()
		var err error
		if open == nil {
			err = fmt.Errorf("model sources are not implemented in this build (no model source registered)")
		} else {
			var s Source
			if s, err = open(spec); err == nil {
				return s, nil
			}
		}
		if m.Fallback != "builtin" {
			return nil, fmt.Errorf("%s: source.model %s: %w", c.File, m.Checkpoint, err)
		}
		return NewBuiltin(m.Layers, m.Projections, fmt.Sprintf("model source %s unavailable (%v): running on the embedded builtin Llama-like synthetic layers instead — these are NOT the model's layers", m.Checkpoint, err)), nil
	}
	return nil, fmt.Errorf("%s: no source given", c.File)
}

// Select returns the layers whose names match any of the globs (all when
// globs is empty); a glob that matches nothing is an error.
func Select(all []Info, globs []string) ([]Info, error) {
	if len(globs) == 0 {
		return all, nil
	}
	var out []Info
	used := make([]bool, len(globs))
	for _, l := range all {
		for i, g := range globs {
			if ok, _ := path.Match(g, l.Name); ok || g == l.Name {
				used[i] = true
				out = append(out, l)
				break
			}
		}
	}
	for i, u := range used {
		if !u {
			names := make([]string, len(all))
			for k, l := range all {
				names[k] = l.Name
			}
			return nil, fmt.Errorf("layers[%d] %q matches no layer of the source (have: %s)", i, globs[i], strings.Join(names, ", "))
		}
	}
	return out, nil
}

// newLayer computes the calibration statistics (with the full H) of W, X.
func newLayer(info Info, lf *datasets.LayerFile) (*Layer, error) {
	l := &methods.Layer{W: lf.W}
	var err error
	if lf.X != nil {
		l.X = lf.X
		l.Stats, err = methods.StatsFromActivations(lf.X, true)
	} else {
		l.Stats, err = methods.StatsFromHessian(lf.Hdiag, lf.H)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", info.Name, err)
	}
	return &Layer{Info: info, Layer: l}, nil
}

func hashString(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%v\x00", p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Synthetic is a source of generated layers.
type Synthetic struct {
	cfg   config.Synthetic
	kind  string
	note  string
	specs []synthetic.Spec
}

// NewSynthetic returns the source of the synthetic config s.
func NewSynthetic(s config.Synthetic) *Synthetic {
	src := &Synthetic{cfg: s, kind: "synthetic"}
	for _, sh := range s.Shapes {
		src.specs = append(src.specs, synthetic.Spec{
			Name: sh.Name, DOut: sh.DOut, DIn: sh.DIn, Samples: s.Samples, Seed: s.Seed,
			Scale: s.Scale, Outliers: s.Outliers, OutlierMin: s.OutlierMin, OutlierMax: s.OutlierMax,
		})
	}
	return src
}

// Builtin is the embedded default used when a model source is unavailable:
// synthetic layers with the shapes of stories260K (dim 64, hidden 172, 8
// query heads and 4 key/value heads of size 8), one set per requested block
// (block 0 when none), restricted to the requested projections.
func NewBuiltin(blocks []int, projections []string, note string) *Synthetic {
	shape := map[string][2]int{
		"q_proj": {64, 64}, "k_proj": {32, 64}, "v_proj": {32, 64}, "o_proj": {64, 64},
		"gate_proj": {172, 64}, "up_proj": {172, 64}, "down_proj": {64, 172},
	}
	if len(blocks) == 0 {
		blocks = []int{0}
	}
	if len(projections) == 0 {
		projections = config.KnownProjections
	}
	s := config.Synthetic{Seed: 260, Samples: 512, Scale: 0.02, Outliers: 2, OutlierMin: 10, OutlierMax: 50}
	for _, b := range blocks {
		for _, p := range config.KnownProjections {
			if slices.Contains(projections, p) {
				d := shape[p]
				s.Shapes = append(s.Shapes, config.Shape{Name: fmt.Sprintf("layers.%d.%s", b, p), DOut: d[0], DIn: d[1]})
			}
		}
	}
	src := NewSynthetic(s)
	src.kind, src.note = "builtin", note
	return src
}

// Kind implements Source.
func (s *Synthetic) Kind() string { return s.kind }

// Note implements Source.
func (s *Synthetic) Note() string { return s.note }

// Describe implements Source.
func (s *Synthetic) Describe() string {
	c := s.cfg
	d := fmt.Sprintf("%s: %s, seed %d, %d samples, W = %g·t(4), %d outlier channels ×U(%g, %g)",
		s.kind, synthetic.Version, c.Seed, c.Samples, c.Scale, c.Outliers, c.OutlierMin, c.OutlierMax)
	if s.kind == "builtin" {
		d += " (stories260K shapes; stand-in for an unavailable model)"
	}
	return d
}

// Layers implements Source.
func (s *Synthetic) Layers() ([]Info, error) {
	out := make([]Info, len(s.specs))
	for i, sp := range s.specs {
		out[i] = Info{Name: sp.Name, DOut: sp.DOut, DIn: sp.DIn,
			Identity: hashString(synthetic.Version, sp.Name, sp.DOut, sp.DIn, sp.Samples, sp.Seed, sp.Scale, sp.Outliers, sp.OutlierMin, sp.OutlierMax)}
	}
	return out, nil
}

// Load implements Source.
func (s *Synthetic) Load(name string) (*Layer, error) {
	infos, _ := s.Layers()
	for i, sp := range s.specs {
		if sp.Name != name {
			continue
		}
		g, err := synthetic.Generate(sp)
		if err != nil {
			return nil, err
		}
		return newLayer(infos[i], &datasets.LayerFile{Path: name, W: g.W, X: g.X})
	}
	return nil, fmt.Errorf("no synthetic layer %q", name)
}

// Safetensors is a source of layer files.
type Safetensors struct {
	files []string
	infos []Info
}

// NewSafetensors hashes and reads the shape of every file. Layer names are
// the file names without extension.
func NewSafetensors(files []string) (*Safetensors, error) {
	s := &Safetensors{files: files}
	seen := map[string]string{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("layer files %s and %s have the same name %q", prev, f, name)
		}
		seen[name] = f
		sum, err := fileHash(f)
		if err != nil {
			return nil, err
		}
		lf, err := datasets.ReadLayerFile(f)
		if err != nil {
			return nil, err
		}
		r, c := lf.W.Dims()
		s.infos = append(s.infos, Info{Name: name, DOut: r, DIn: c, Identity: sum})
	}
	return s, nil
}

func fileHash(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Kind implements Source.
func (s *Safetensors) Kind() string { return "safetensors" }

// Note implements Source.
func (s *Safetensors) Note() string { return "" }

// Describe implements Source.
func (s *Safetensors) Describe() string {
	return fmt.Sprintf("safetensors: %d layer file(s)", len(s.files))
}

// Layers implements Source.
func (s *Safetensors) Layers() ([]Info, error) { return s.infos, nil }

// Load implements Source.
func (s *Safetensors) Load(name string) (*Layer, error) {
	for i, info := range s.infos {
		if info.Name == name {
			lf, err := datasets.ReadLayerFile(s.files[i])
			if err != nil {
				return nil, err
			}
			return newLayer(info, lf)
		}
	}
	return nil, fmt.Errorf("no layer file named %q", name)
}
