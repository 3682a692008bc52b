package datasets

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/prunebench/armor/model"
)

// Hugging Face Llama checkpoints (LlamaForCausalLM) are a directory holding
//
//	config.json                     the architecture (HFConfig)
//	model.safetensors               every tensor, or
//	model.safetensors.index.json    {"weight_map": {tensor name → shard file}}
//	                                with the shard files beside it
//
// with tensors named
//
//	model.embed_tokens.weight                      [vocab, dim]
//	model.layers.<i>.input_layernorm.weight        [dim]
//	model.layers.<i>.self_attn.{q,k,v,o}_proj.weight
//	model.layers.<i>.post_attention_layernorm.weight [dim]
//	model.layers.<i>.mlp.{gate,up,down}_proj.weight
//	model.norm.weight                              [dim]
//	lm_head.weight                                 [vocab, dim] (absent when tied)
//
// and RoPE rotating halves of each head (RopeInterleaved = false), the
// query and key rows permuted accordingly relative to Meta's and llama2.c's
// interleaved layout (model.PermuteForHalves).

// File names of a Hugging Face checkpoint directory.
const (
	HFConfigFile  = "config.json"
	HFWeightsFile = "model.safetensors"
	HFIndexFile   = "model.safetensors.index.json"
)

// HFConfig is the subset of a Llama config.json this package reads and
// writes. Pointer fields distinguish "absent" from zero.
type HFConfig struct {
	Architectures         []string `json:"architectures,omitempty"`
	ModelType             string   `json:"model_type"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      int      `json:"num_key_value_heads,omitempty"`
	HeadDim               int      `json:"head_dim,omitempty"`
	VocabSize             int      `json:"vocab_size"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	RMSNormEps            float64  `json:"rms_norm_eps"`
	RopeTheta             float64  `json:"rope_theta,omitempty"`
	TieWordEmbeddings     *bool    `json:"tie_word_embeddings,omitempty"`
	HiddenAct             string   `json:"hidden_act,omitempty"`
	AttentionBias         bool     `json:"attention_bias"`
	MLPBias               bool     `json:"mlp_bias"`
	RopeScaling           any      `json:"rope_scaling"`
	TorchDType            string   `json:"torch_dtype,omitempty"`
	BOSTokenID            int      `json:"bos_token_id"`
	EOSTokenID            int      `json:"eos_token_id"`
}

// ReadHFConfig reads and checks a Llama config.json and returns the model
// configuration (RopeInterleaved false) and whether the classifier is tied
// to the embedding (tie_word_embeddings; false when absent, as in
// transformers' LlamaConfig).
func ReadHFConfig(path string) (model.Config, bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return model.Config{}, false, fmt.Errorf("hugging face config: %w", err)
	}
	var hc HFConfig
	if err := json.Unmarshal(b, &hc); err != nil {
		return model.Config{}, false, fmt.Errorf("hugging face config %s: %w", path, err)
	}
	cfg, tied, err := hc.ModelConfig()
	if err != nil {
		return model.Config{}, false, fmt.Errorf("hugging face config %s: %w", path, err)
	}
	return cfg, tied, nil
}

// ModelConfig converts hc to a model.Config, rejecting what the forward
// pass does not implement (biases, RoPE scaling, other activations).
func (hc HFConfig) ModelConfig() (model.Config, bool, error) {
	if hc.ModelType != "" && hc.ModelType != "llama" {
		return model.Config{}, false, fmt.Errorf("model_type %q is not supported (want llama)", hc.ModelType)
	}
	if hc.HiddenAct != "" && hc.HiddenAct != "silu" {
		return model.Config{}, false, fmt.Errorf("hidden_act %q is not supported (want silu)", hc.HiddenAct)
	}
	if hc.AttentionBias || hc.MLPBias {
		return model.Config{}, false, fmt.Errorf("attention_bias/mlp_bias are not supported")
	}
	if hc.RopeScaling != nil {
		return model.Config{}, false, fmt.Errorf("rope_scaling %v is not supported", hc.RopeScaling)
	}
	kv := hc.NumKeyValueHeads
	if kv == 0 {
		kv = hc.NumAttentionHeads
	}
	cfg := model.Config{
		Dim: hc.HiddenSize, HiddenDim: hc.IntermediateSize, NLayers: hc.NumHiddenLayers,
		NHeads: hc.NumAttentionHeads, NKVHeads: kv, VocabSize: hc.VocabSize,
		SeqLen: hc.MaxPositionEmbeddings, NormEps: hc.RMSNormEps, RopeTheta: hc.RopeTheta,
		RopeInterleaved: false,
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return model.Config{}, false, err
	}
	if hc.HeadDim != 0 && hc.HeadDim != cfg.HeadDim() {
		return model.Config{}, false, fmt.Errorf("head_dim %d differs from hidden_size/num_attention_heads = %d (not supported)", hc.HeadDim, cfg.HeadDim())
	}
	tied := hc.TieWordEmbeddings != nil && *hc.TieWordEmbeddings
	return cfg, tied, nil
}

// NewHFConfig returns the config.json of a model (dtype names the stored
// tensors' torch dtype: float32, float16 or bfloat16).
func NewHFConfig(cfg model.Config, tied bool, dtype string) HFConfig {
	cfg = cfg.WithDefaults()
	return HFConfig{
		Architectures: []string{"LlamaForCausalLM"}, ModelType: "llama",
		HiddenSize: cfg.Dim, IntermediateSize: cfg.HiddenDim, NumHiddenLayers: cfg.NLayers,
		NumAttentionHeads: cfg.NHeads, NumKeyValueHeads: cfg.NKVHeads, VocabSize: cfg.VocabSize,
		MaxPositionEmbeddings: cfg.SeqLen, RMSNormEps: cfg.NormEps, RopeTheta: cfg.RopeTheta,
		TieWordEmbeddings: &tied, HiddenAct: "silu", TorchDType: dtype,
		BOSTokenID: 1, EOSTokenID: 2,
	}
}

// HFTensorName returns the Hugging Face name of block projection proj of
// layer i (e.g. model.layers.3.self_attn.q_proj.weight).
func HFTensorName(i int, proj string) string {
	group := "mlp"
	switch proj {
	case model.ProjQ, model.ProjK, model.ProjV, model.ProjO:
		group = "self_attn"
	}
	return fmt.Sprintf("model.layers.%d.%s.%s.weight", i, group, proj)
}

// hfTensorSource finds tensors by name across the checkpoint's files,
// reading each file once, when first needed, and releasing it when every
// tensor it holds has been taken.
type hfTensorSource struct {
	dir     string
	fileOf  map[string]string // tensor → file name
	files   map[string]*File
	pending map[string]int // file → tensors not yet taken
	done    map[string]bool
}

func newHFTensorSource(dir string) (*hfTensorSource, error) {
	s := &hfTensorSource{dir: dir, fileOf: map[string]string{}, files: map[string]*File{}, pending: map[string]int{}, done: map[string]bool{}}
	idx := filepath.Join(dir, HFIndexFile)
	if b, err := os.ReadFile(idx); err == nil {
		var ix struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &ix); err != nil {
			return nil, fmt.Errorf("%s: %w", idx, err)
		}
		if len(ix.WeightMap) == 0 {
			return nil, fmt.Errorf("%s: empty weight_map", idx)
		}
		for t, f := range ix.WeightMap {
			if f != filepath.Base(f) || !strings.HasSuffix(f, ".safetensors") {
				return nil, fmt.Errorf("%s: tensor %s maps to %q, want a .safetensors file name in the same directory", idx, t, f)
			}
			s.fileOf[t] = f
			s.pending[f]++
		}
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	single := filepath.Join(dir, HFWeightsFile)
	f, err := ReadSafetensors(single)
	if err != nil {
		return nil, fmt.Errorf("hugging face checkpoint %s: neither %s nor a readable %s: %w", dir, HFIndexFile, HFWeightsFile, err)
	}
	s.files[HFWeightsFile] = f
	for _, t := range f.Tensors {
		s.fileOf[t.Name] = HFWeightsFile
		s.pending[HFWeightsFile]++
	}
	return s, nil
}

// has reports whether the checkpoint holds tensor name.
func (s *hfTensorSource) has(name string) bool { _, ok := s.fileOf[name]; return ok }

// take returns tensor name decoded to float32 with the given shape.
func (s *hfTensorSource) take(name string, shape ...int) ([]float32, error) {
	fn, ok := s.fileOf[name]
	if !ok {
		return nil, fmt.Errorf("hugging face checkpoint %s: tensor %s is missing", s.dir, name)
	}
	f := s.files[fn]
	if f == nil {
		var err error
		if f, err = ReadSafetensors(filepath.Join(s.dir, fn)); err != nil {
			return nil, err
		}
		s.files[fn] = f
	}
	t, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(t.Shape, shape) {
		return nil, fmt.Errorf("%s: tensor %s has shape %v, want %v", f.Path, name, t.Shape, shape)
	}
	v, err := TensorFloat32s(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	s.done[name] = true
	if s.pending[fn]--; s.pending[fn] == 0 {
		delete(s.files, fn) // every tensor of this shard is decoded
	}
	return v, nil
}

// TensorFloat32s decodes a F32, F16, BF16 or F64 tensor to float32,
// rejecting non-finite values (naming the tensor and element).
func TensorFloat32s(t Tensor) ([]float32, error) {
	n, err := t.numElements()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	le := binary.LittleEndian
	for i := range out {
		var x float32
		switch t.DType {
		case F32:
			x = math.Float32frombits(le.Uint32(t.Data[4*i:]))
		case F16:
			x = F16ToFloat32(le.Uint16(t.Data[2*i:]))
		case BF16:
			x = BF16ToFloat32(le.Uint16(t.Data[2*i:]))
		case F64:
			x = float32(math.Float64frombits(le.Uint64(t.Data[8*i:])))
		default:
			return nil, fmt.Errorf("tensor %s: dtype %s is not a float type (want F32, F16, BF16 or F64)", t.Name, t.DType)
		}
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("tensor %s: non-finite value %v at index %d", t.Name, x, i)
		}
		out[i] = x
	}
	return out, nil
}

// TensorFromFloat32s encodes v (row-major, shape) as a tensor of dtype F32,
// F16 or BF16 (rounded to nearest even).
func TensorFromFloat32s(name string, dt DType, shape []int, v []float32) (Tensor, error) {
	switch dt {
	case F32, F16, BF16:
	default:
		return Tensor{}, fmt.Errorf("tensor %q: dtype %q: want F32, F16 or BF16", name, string(dt))
	}
	// Widening to float64 is exact, so F16/BF16 round exactly as from float32.
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return TensorFromFloat64s(name, dt, shape, w)
}

// IsHFDir reports whether dir looks like a Hugging Face checkpoint (holds
// config.json).
func IsHFDir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, HFConfigFile))
	return err == nil && !st.IsDir()
}

// LoadHF reads a Hugging Face Llama checkpoint directory (config.json with
// model.safetensors or a sharded model.safetensors.index.json; F32, F16 or
// BF16 tensors, widened to float32). The returned config has
// RopeInterleaved = false (the halves layout the checkpoint uses). Shards
// are read one at a time and released once decoded.
func LoadHF(dir string) (*model.Config, *model.Weights, error) {
	cfg, tied, err := ReadHFConfig(filepath.Join(dir, HFConfigFile))
	if err != nil {
		return nil, nil, err
	}
	src, err := newHFTensorSource(dir)
	if err != nil {
		return nil, nil, err
	}
	d, kv, hid, V := cfg.Dim, cfg.KVDim(), cfg.HiddenDim, cfg.VocabSize
	w := &model.Weights{Layers: make([]model.Layer, cfg.NLayers)}
	if w.TokenEmbedding, err = src.take("model.embed_tokens.weight", V, d); err != nil {
		return nil, nil, err
	}
	shapes := map[string][2]int{
		model.ProjQ: {d, d}, model.ProjK: {kv, d}, model.ProjV: {kv, d}, model.ProjO: {d, d},
		model.ProjGate: {hid, d}, model.ProjUp: {hid, d}, model.ProjDown: {d, hid},
	}
	for i := range w.Layers {
		if w.Layers[i].AttnNorm, err = src.take(fmt.Sprintf("model.layers.%d.input_layernorm.weight", i), d); err != nil {
			return nil, nil, err
		}
		if w.Layers[i].FFNNorm, err = src.take(fmt.Sprintf("model.layers.%d.post_attention_layernorm.weight", i), d); err != nil {
			return nil, nil, err
		}
		for _, p := range model.Projections {
			sh := shapes[p]
			v, err := src.take(HFTensorName(i, p), sh[0], sh[1])
			if err != nil {
				return nil, nil, err
			}
			if err := w.Layers[i].SetProjection(p, &model.Linear{Out: sh[0], In: sh[1], W: v}); err != nil {
				return nil, nil, err
			}
		}
	}
	if w.FinalNorm, err = src.take("model.norm.weight", d); err != nil {
		return nil, nil, err
	}
	switch {
	case !tied:
		cls, err := src.take("lm_head.weight", V, d)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (config.json has tie_word_embeddings false or absent)", err)
		}
		w.Classifier = &model.Linear{Out: V, In: d, W: cls}
	case src.has("lm_head.weight"):
		// Tied checkpoints sometimes store the shared matrix twice.
		if _, err := src.take("lm_head.weight", V, d); err != nil {
			return nil, nil, err
		}
	}
	var extra []string
	for name := range src.fileOf {
		if !src.done[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, nil, fmt.Errorf("hugging face checkpoint %s: unexpected tensors %s (biases or other architectures are not supported)", dir, strings.Join(extra, ", "))
	}
	if err := w.Validate(cfg); err != nil {
		return nil, nil, fmt.Errorf("hugging face checkpoint %s: %w", dir, err)
	}
	return &cfg, w, nil
}
