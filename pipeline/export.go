package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// The factorized form of an ARMOR-pruned model is a directory holding
//
//	armor_manifest.json   FactoredManifest: format, model config, method,
//	                      protocol, pattern and one entry per linear layer
//	armor.safetensors     the tensors: token_embedding, layers.<i>.attn_norm,
//	                      layers.<i>.ffn_norm, final_norm, classifier (when
//	                      untied), and per factorized layer <name>.A, <name>.B
//	                      (the diagonal blocks, concatenated), <name>.values
//	                      (the kept core entries) and <name>.groups (U8
//	                      bitmask per group of M inputs); a layer that is not
//	                      factorized is stored dense as <name>.weight
//
// in the model's own RoPE layout (config.rope_interleaved), so that the
// blocks of A stay aligned with the rows they act on.
const (
	ManifestFile      = "armor_manifest.json"
	FactoredWeights   = "armor.safetensors"
	FactoredFormat    = "prunebench-armor-factored/1"
	factoredDenseName = ".weight"
)

// ManifestConfig is the model configuration as written in the manifest.
type ManifestConfig struct {
	Dim             int     `json:"dim"`
	HiddenDim       int     `json:"hidden_dim"`
	NLayers         int     `json:"n_layers"`
	NHeads          int     `json:"n_heads"`
	NKVHeads        int     `json:"n_kv_heads"`
	VocabSize       int     `json:"vocab_size"`
	SeqLen          int     `json:"seq_len"`
	NormEps         float64 `json:"norm_eps"`
	RopeTheta       float64 `json:"rope_theta"`
	RopeInterleaved bool    `json:"rope_interleaved"`
	Tied            bool    `json:"tied"`
}

// ManifestLayer describes one factorized layer: y = A·S·B·x.
type ManifestLayer struct {
	Name      string `json:"name"`
	DOut      int    `json:"d_out"`
	DIn       int    `json:"d_in"`
	BlockSize int    `json:"block_size"`
	OutBlocks []int  `json:"out_blocks"`
	InBlocks  []int  `json:"in_blocks"`
	// StoredParams = |A blocks| + |B blocks| + kept core entries.
	StoredParams int `json:"stored_params"`
}

// FactoredManifest is the JSON manifest of the factorized form.
type FactoredManifest struct {
	Format   string          `json:"format"`
	Method   string          `json:"method"`
	Protocol Protocol        `json:"protocol"`
	Pattern  string          `json:"pattern"`
	Config   ManifestConfig  `json:"config"`
	Weights  string          `json:"weights"`
	Layers   []ManifestLayer `json:"layers"`
	Params   ParamCount      `json:"params"`
}

// ExportOptions choose the form of an export.
type ExportOptions struct {
	// DType of the written tensors (F32, F16, BF16); "" keeps the dtype the
	// model's projection weights are stored in (datasets.WeightsDType).
	DType datasets.DType
	// ShardBytes limits the size of each safetensors file of the Hugging
	// Face export: a model larger than this is split into
	// model-0000k-of-0000n.safetensors with an index; ≤ 0 means
	// datasets.DefaultShardBytes (5 GB, as save_pretrained).
	ShardBytes int64
}

// ExportOptionsFor returns the options that keep the form of the model
// loaded from modelPath: its weights' dtype, and, for a sharded Hugging Face
// checkpoint, its largest shard's size as the shard limit.
func ExportOptionsFor(modelPath string, m *model.Model) ExportOptions {
	opt := ExportOptions{DType: datasets.WeightsDType(m.Weights()), ShardBytes: datasets.DefaultShardBytes}
	if format, dir, err := DetectFormat(modelPath); err == nil && format == FormatHF {
		if _, err := os.Stat(filepath.Join(dir, datasets.HFIndexFile)); err == nil {
			if b := datasets.CheckpointBytes(dir); b > 0 {
				opt.ShardBytes = b
			}
		}
	}
	return opt
}

func (o ExportOptions) resolve(w *model.Weights) ExportOptions {
	if o.DType == "" {
		o.DType = datasets.WeightsDType(w)
	}
	if o.ShardBytes <= 0 {
		o.ShardBytes = datasets.DefaultShardBytes
	}
	return o
}

// ExportHF writes the pruned model's effective dense weights as a Hugging
// Face checkpoint in dir, in the dtype of the model's weights, in one
// model.safetensors when it fits in 5 GB and in shards otherwise (see
// ExportHFWith).
func ExportHF(dir string, p *Pruned) error { return ExportHFWith(dir, p, ExportOptions{}) }

// ExportHFWith is ExportHF with the dtype and shard limit of opt: the
// checkpoint is one model.safetensors when its tensors fit in
// opt.ShardBytes, shards with an index otherwise. Tensors are encoded and
// written one at a time.
func ExportHFWith(dir string, p *Pruned, opt ExportOptions) error {
	cfg, w := p.Model.Config(), p.Model.Weights()
	opt = opt.resolve(w)
	tensors, err := datasets.HFStreamTensors(cfg, w, opt.DType)
	if err != nil {
		return fmt.Errorf("export %s: %w", dir, err)
	}
	var total int64
	for _, t := range tensors {
		n, err := t.NBytes()
		if err != nil {
			return fmt.Errorf("export %s: %w", dir, err)
		}
		total += n
	}
	shard := opt.ShardBytes
	if total <= shard {
		shard = 0 // one file
	}
	hc := datasets.NewHFConfigFor(cfg, w, datasets.TorchDType(opt.DType))
	return datasets.WriteHFCheckpoint(dir, hc, tensors, datasets.HFSaveOptions{
		ShardBytes: shard,
		Metadata:   map[string]string{"pruning_method": p.Method, "pruning_protocol": string(p.Protocol), "pruning_pattern": p.Pattern.String()},
	})
}

// ExportFactored writes the factorized form of an ARMOR-pruned model in dir
// (tensors in the dtype of the model's weights; see ExportFactoredWith).
func ExportFactored(dir string, p *Pruned) error { return ExportFactoredWith(dir, p, ExportOptions{}) }

// ExportFactoredWith writes the factorized form of an ARMOR-pruned model
// in dir with its float tensors in opt.DType (the groups' bitmasks are U8).
// It is one armor.safetensors file (opt.ShardBytes is not used).
func ExportFactoredWith(dir string, p *Pruned, opt ExportOptions) error {
	if len(p.Factors) == 0 {
		return fmt.Errorf("export factorized %s: the model has no factorized layers (only ARMOR produces them)", dir)
	}
	cfg := p.Model.Config()
	w := p.Model.Weights()
	man := FactoredManifest{
		Format: FactoredFormat, Method: p.Method, Protocol: p.Protocol, Pattern: p.Pattern.String(),
		Config: ManifestConfig{
			Dim: cfg.Dim, HiddenDim: cfg.HiddenDim, NLayers: cfg.NLayers, NHeads: cfg.NHeads, NKVHeads: cfg.NKVHeads,
			VocabSize: cfg.VocabSize, SeqLen: cfg.SeqLen, NormEps: cfg.NormEps, RopeTheta: cfg.RopeTheta,
			RopeInterleaved: cfg.RopeInterleaved, Tied: w.Tied(),
		},
		Weights: FactoredWeights, Params: p.Params,
	}
	opt = opt.resolve(w)
	var ts []datasets.StreamTensor
	add := func(name string, _ datasets.DType, shape []int, v []float32) error {
		ts = append(ts, datasets.StreamTensor{Name: name, DType: opt.DType, Shape: shape,
			Write: func(wr io.Writer) error { return datasets.EncodeFloat32s(wr, opt.DType, v) }})
		return nil
	}
	addLinear := func(name string, l *model.Linear) {
		ts = append(ts, datasets.StreamTensor{Name: name, DType: opt.DType, Shape: []int{l.Out, l.In},
			Write: func(wr io.Writer) error { return datasets.EncodeLinear(wr, opt.DType, l) }})
	}
	addLinear("token_embedding", w.Embedding())
	for i := range w.Layers {
		L := &w.Layers[i]
		if err := add(fmt.Sprintf("layers.%d.attn_norm", i), datasets.F32, []int{cfg.Dim}, L.AttnNorm); err != nil {
			return err
		}
		if err := add(fmt.Sprintf("layers.%d.ffn_norm", i), datasets.F32, []int{cfg.Dim}, L.FFNNorm); err != nil {
			return err
		}
	}
	if err := add("final_norm", datasets.F32, []int{cfg.Dim}, w.FinalNorm); err != nil {
		return err
	}
	if w.Classifier != nil {
		addLinear("classifier", w.Classifier)
	}
	for _, name := range w.LinearNames() {
		f := p.Factors[name]
		if f == nil {
			l, _ := w.Linear(name)
			addLinear(name+factoredDenseName, l)
			continue
		}
		parts := []struct {
			suffix string
			v      []float32
		}{{".A", f.A}, {".B", f.B}, {".values", f.Values}}
		for _, pt := range parts {
			if err := add(name+pt.suffix, datasets.F32, []int{len(pt.v)}, pt.v); err != nil {
				return err
			}
		}
		g, err := datasets.TensorFromUint8s(name+".groups", []int{f.DOut, f.DIn / f.Pattern.M}, f.Groups)
		if err != nil {
			return err
		}
		ts = append(ts, datasets.StreamOf(g))
		man.Layers = append(man.Layers, ManifestLayer{
			Name: name, DOut: f.DOut, DIn: f.DIn, BlockSize: f.BlockSize,
			OutBlocks: f.OutBlocks, InBlocks: f.InBlocks, StoredParams: f.StoredParams(),
		})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export factorized: %w", err)
	}
	if err := datasets.WriteSafetensorsStream(filepath.Join(dir, FactoredWeights), ts, map[string]string{"format": FactoredFormat}); err != nil {
		return err
	}
	return datasets.WriteJSONAtomic(filepath.Join(dir, ManifestFile), man)
}

// IsFactoredDir reports whether dir holds a factorized model.
func IsFactoredDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ManifestFile))
	return err == nil
}

// LoadFactored reads a factorized model and returns it with the effective
// dense weights A·S·B of every factorized layer, and the layers themselves.
func LoadFactored(dir string) (*model.Model, map[string]*Factored, *FactoredManifest, error) {
	mp := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(mp)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("factorized model: %w", err)
	}
	var man FactoredManifest
	if err := json.Unmarshal(b, &man); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", mp, err)
	}
	if man.Format != FactoredFormat {
		return nil, nil, nil, fmt.Errorf("%s: format %q, want %q", mp, man.Format, FactoredFormat)
	}
	pat, err := methods.ParsePattern(man.Pattern)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: pattern: %w", mp, err)
	}
	mc := man.Config
	cfg := model.Config{Dim: mc.Dim, HiddenDim: mc.HiddenDim, NLayers: mc.NLayers, NHeads: mc.NHeads, NKVHeads: mc.NKVHeads,
		VocabSize: mc.VocabSize, SeqLen: mc.SeqLen, NormEps: mc.NormEps, RopeTheta: mc.RopeTheta, RopeInterleaved: mc.RopeInterleaved}
	w, err := model.NewWeights(cfg, mc.Tied)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", mp, err)
	}
	wp := filepath.Join(dir, man.Weights)
	if man.Weights == "" || man.Weights != filepath.Base(man.Weights) {
		return nil, nil, nil, fmt.Errorf("%s: weights %q must be a file name in the same directory", mp, man.Weights)
	}
	sf, err := datasets.ReadSafetensors(wp)
	if err != nil {
		return nil, nil, nil, err
	}
	get := func(name string, n int) ([]float32, error) {
		t, err := sf.Tensor(name)
		if err != nil {
			return nil, err
		}
		v, err := datasets.TensorFloat32s(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", wp, err)
		}
		if n >= 0 && len(v) != n {
			return nil, fmt.Errorf("%s: tensor %s has %d values, want %d", wp, name, len(v), n)
		}
		return v, nil
	}
	if w.TokenEmbedding, err = get("token_embedding", cfg.VocabSize*cfg.Dim); err != nil {
		return nil, nil, nil, err
	}
	for i := range w.Layers {
		if w.Layers[i].AttnNorm, err = get(fmt.Sprintf("layers.%d.attn_norm", i), cfg.Dim); err != nil {
			return nil, nil, nil, err
		}
		if w.Layers[i].FFNNorm, err = get(fmt.Sprintf("layers.%d.ffn_norm", i), cfg.Dim); err != nil {
			return nil, nil, nil, err
		}
	}
	if w.FinalNorm, err = get("final_norm", cfg.Dim); err != nil {
		return nil, nil, nil, err
	}
	if !mc.Tied {
		if w.Classifier.W, err = get("classifier", cfg.VocabSize*cfg.Dim); err != nil {
			return nil, nil, nil, err
		}
	}
	byName := map[string]ManifestLayer{}
	for _, l := range man.Layers {
		byName[l.Name] = l
	}
	factors := map[string]*Factored{}
	for _, name := range w.LinearNames() {
		old, _ := w.Linear(name)
		ml, ok := byName[name]
		if !ok {
			v, err := get(name+factoredDenseName, old.Out*old.In)
			if err != nil {
				return nil, nil, nil, err
			}
			if err := w.SetLinear(name, &model.Linear{Out: old.Out, In: old.In, W: v}); err != nil {
				return nil, nil, nil, err
			}
			continue
		}
		delete(byName, name)
		if ml.DOut != old.Out || ml.DIn != old.In {
			return nil, nil, nil, fmt.Errorf("%s: layer %s is %d×%d, the config implies %d×%d", mp, name, ml.DOut, ml.DIn, old.Out, old.In)
		}
		f := &Factored{DOut: ml.DOut, DIn: ml.DIn, Pattern: pat, BlockSize: ml.BlockSize, OutBlocks: ml.OutBlocks, InBlocks: ml.InBlocks}
		if f.A, err = get(name+".A", -1); err != nil {
			return nil, nil, nil, err
		}
		if f.B, err = get(name+".B", -1); err != nil {
			return nil, nil, nil, err
		}
		if f.Values, err = get(name+".values", -1); err != nil {
			return nil, nil, nil, err
		}
		if f.Groups, _, err = sf.Uint8s(name + ".groups"); err != nil {
			return nil, nil, nil, err
		}
		lin, err := f.Dense()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: layer %s: %w", wp, name, err)
		}
		if err := w.SetLinear(name, lin); err != nil {
			return nil, nil, nil, err
		}
		factors[name] = f
	}
	if len(byName) > 0 {
		var extra []string
		for n := range byName {
			extra = append(extra, n)
		}
		sort.Strings(extra)
		return nil, nil, nil, fmt.Errorf("%s: layers %v are not linear layers of the model", mp, extra)
	}
	m, err := model.New(cfg, w)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, factors, &man, nil
}
