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

// HFConfig is the subset of a Llama or Qwen2 config.json this package
// reads and writes. Pointer fields distinguish "absent" from zero.
type HFConfig struct {
	Architectures         []string       `json:"architectures,omitempty"`
	ModelType             string         `json:"model_type"`
	HiddenSize            int            `json:"hidden_size"`
	IntermediateSize      int            `json:"intermediate_size"`
	NumHiddenLayers       int            `json:"num_hidden_layers"`
	NumAttentionHeads     int            `json:"num_attention_heads"`
	NumKeyValueHeads      int            `json:"num_key_value_heads,omitempty"`
	HeadDim               int            `json:"head_dim,omitempty"`
	VocabSize             int            `json:"vocab_size"`
	MaxPositionEmbeddings int            `json:"max_position_embeddings"`
	RMSNormEps            float64        `json:"rms_norm_eps"`
	RopeTheta             float64        `json:"rope_theta,omitempty"`
	TieWordEmbeddings     *bool          `json:"tie_word_embeddings,omitempty"`
	HiddenAct             string         `json:"hidden_act,omitempty"`
	AttentionBias         bool           `json:"attention_bias"`
	MLPBias               bool           `json:"mlp_bias"`
	RopeScaling           *HFRopeScaling `json:"rope_scaling"`
	UseSlidingWindow      bool           `json:"use_sliding_window,omitempty"`
	TorchDType            string         `json:"torch_dtype,omitempty"`
	BOSTokenID            int            `json:"bos_token_id"`
	EOSTokenID            int            `json:"eos_token_id"`
}

// HFRopeScaling is config.json's rope_scaling. Only rope_type "llama3"
// (Llama 3.1/3.2) is implemented; other types are refused by name.
type HFRopeScaling struct {
	RopeType                      string  `json:"rope_type,omitempty"`
	Type                          string  `json:"type,omitempty"` // older spelling of rope_type
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor,omitempty"`
	HighFreqFactor                float64 `json:"high_freq_factor,omitempty"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings,omitempty"`
}

// Architectures this package loads (config.json's model_type).
const (
	ModelTypeLlama = "llama"
	ModelTypeQwen2 = "qwen2"
)

// ReadHFConfig reads and checks a Llama or Qwen2 config.json and returns
// the model configuration (RopeInterleaved false) and whether the
// classifier is tied to the embedding (tie_word_embeddings; false when
// absent, as in transformers' LlamaConfig).
func ReadHFConfig(path string) (model.Config, bool, error) {
	hc, err := readHFConfigFile(path)
	if err != nil {
		return model.Config{}, false, err
	}
	cfg, tied, err := hc.ModelConfig()
	if err != nil {
		return model.Config{}, false, fmt.Errorf("hugging face config %s: %w", path, err)
	}
	return cfg, tied, nil
}

func readHFConfigFile(path string) (HFConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return HFConfig{}, fmt.Errorf("hugging face config: %w", err)
	}
	var hc HFConfig
	if err := json.Unmarshal(b, &hc); err != nil {
		return HFConfig{}, fmt.Errorf("hugging face config %s: %w", path, err)
	}
	return hc, nil
}

// ModelConfig converts hc to a model.Config, rejecting what the forward
// pass does not implement (other activations, RoPE scalings other than
// llama3, sliding-window attention).
func (hc HFConfig) ModelConfig() (model.Config, bool, error) {
	switch hc.ModelType {
	case "", ModelTypeLlama, ModelTypeQwen2:
	default:
		return model.Config{}, false, fmt.Errorf("model_type %q is not supported (want llama or qwen2)", hc.ModelType)
	}
	if hc.HiddenAct != "" && hc.HiddenAct != "silu" {
		return model.Config{}, false, fmt.Errorf("hidden_act %q is not supported (want silu)", hc.HiddenAct)
	}
	if hc.UseSlidingWindow {
		return model.Config{}, false, fmt.Errorf("use_sliding_window true is not supported (full attention only)")
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
	if rs := hc.RopeScaling; rs != nil {
		typ := rs.RopeType
		if typ == "" {
			typ = rs.Type
		}
		if typ != "llama3" {
			return model.Config{}, false, fmt.Errorf("rope_scaling of type %q is not supported (only llama3 is implemented)", typ)
		}
		cfg.RopeScaling = &model.RopeScaling{Factor: rs.Factor, LowFreqFactor: rs.LowFreqFactor,
			HighFreqFactor: rs.HighFreqFactor, OriginalMaxPosition: rs.OriginalMaxPositionEmbeddings}
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

// biasedProjections returns the projections config.json says carry a
// bias: q, k and v for qwen2; q, k, v and o with attention_bias; gate, up
// and down with mlp_bias.
func (hc HFConfig) biasedProjections() map[string]bool {
	b := map[string]bool{}
	if hc.ModelType == ModelTypeQwen2 || hc.AttentionBias {
		b[model.ProjQ], b[model.ProjK], b[model.ProjV] = true, true, true
	}
	if hc.ModelType != ModelTypeQwen2 && hc.AttentionBias {
		b[model.ProjO] = true
	}
	if hc.MLPBias {
		b[model.ProjGate], b[model.ProjUp], b[model.ProjDown] = true, true, true
	}
	return b
}

// NewHFConfig returns the config.json of a Llama model (dtype names the
// stored tensors' torch dtype: float32, float16 or bfloat16).
func NewHFConfig(cfg model.Config, tied bool, dtype string) HFConfig {
	cfg = cfg.WithDefaults()
	hc := HFConfig{
		Architectures: []string{"LlamaForCausalLM"}, ModelType: ModelTypeLlama,
		HiddenSize: cfg.Dim, IntermediateSize: cfg.HiddenDim, NumHiddenLayers: cfg.NLayers,
		NumAttentionHeads: cfg.NHeads, NumKeyValueHeads: cfg.NKVHeads, VocabSize: cfg.VocabSize,
		MaxPositionEmbeddings: cfg.SeqLen, RMSNormEps: cfg.NormEps, RopeTheta: cfg.RopeTheta,
		TieWordEmbeddings: &tied, HiddenAct: "silu", TorchDType: dtype,
		BOSTokenID: 1, EOSTokenID: 2,
	}
	if rs := cfg.RopeScaling; rs != nil {
		hc.RopeScaling = &HFRopeScaling{RopeType: "llama3", Factor: rs.Factor, LowFreqFactor: rs.LowFreqFactor,
			HighFreqFactor: rs.HighFreqFactor, OriginalMaxPositionEmbeddings: rs.OriginalMaxPosition}
	}
	return hc
}

// NewHFConfigFor is NewHFConfig for weights w: a model with biases on
// exactly q, k and v is written as Qwen2 (Qwen2ForCausalLM), other biases
// as Llama's attention_bias / mlp_bias.
func NewHFConfigFor(cfg model.Config, w *model.Weights, dtype string) HFConfig {
	hc := NewHFConfig(cfg, w.Tied(), dtype)
	has := map[string]bool{}
	for i := range w.Layers {
		for _, p := range model.Projections {
			if l := w.Layers[i].Projection(p); l != nil && l.Bias != nil {
				has[p] = true
			}
		}
	}
	switch {
	case len(has) == 3 && has[model.ProjQ] && has[model.ProjK] && has[model.ProjV]:
		hc.Architectures, hc.ModelType = []string{"Qwen2ForCausalLM"}, ModelTypeQwen2
	case len(has) > 0:
		hc.AttentionBias = has[model.ProjQ]
		hc.MLPBias = has[model.ProjGate]
	}
	return hc
}

// HFBiasName returns the Hugging Face name of the bias of projection proj
// of layer i (e.g. model.layers.3.self_attn.q_proj.bias).
func HFBiasName(i int, proj string) string {
	return strings.TrimSuffix(HFTensorName(i, proj), ".weight") + ".bias"
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
// memory-mapping each file when first needed. Tensors in F32 (and norms,
// embeddings and biases of any dtype) are decoded to float32 copies, and
// the pages they occupied released; BF16/F16 projection weights stay views
// of the mapping (model.Linear.Half), so loading costs no memory for them.
type hfTensorSource struct {
	dir    string
	index  string            // index file path, "" for a single file
	fileOf map[string]string // tensor → file name
	files  map[string]*MappedFile
	done   map[string]bool
}

func newHFTensorSource(dir string) (*hfTensorSource, error) {
	s := &hfTensorSource{dir: dir, fileOf: map[string]string{}, files: map[string]*MappedFile{}, done: map[string]bool{}}
	idx := filepath.Join(dir, HFIndexFile)
	if b, err := os.ReadFile(idx); err == nil {
		s.index = idx
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
		}
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	single := filepath.Join(dir, HFWeightsFile)
	f, err := MapSafetensors(single)
	if err != nil {
		return nil, fmt.Errorf("hugging face checkpoint %s: neither %s nor a readable %s: %w", dir, HFIndexFile, HFWeightsFile, err)
	}
	s.files[HFWeightsFile] = f
	for _, t := range f.Tensors {
		s.fileOf[t.Name] = HFWeightsFile
	}
	return s, nil
}

// has reports whether the checkpoint holds tensor name.
func (s *hfTensorSource) has(name string) bool { _, ok := s.fileOf[name]; return ok }

// tensor returns tensor name (a view of its mapped file) after checking its
// shape.
func (s *hfTensorSource) tensor(name string, shape ...int) (Tensor, string, error) {
	fn, ok := s.fileOf[name]
	if !ok {
		return Tensor{}, "", fmt.Errorf("hugging face checkpoint %s: tensor %s is missing", s.dir, name)
	}
	f := s.files[fn]
	if f == nil {
		var err error
		if f, err = MapSafetensors(filepath.Join(s.dir, fn)); err != nil {
			return Tensor{}, "", err
		}
		s.files[fn] = f
	}
	t, err := f.Tensor(name)
	if err != nil {
		if s.index != "" {
			return Tensor{}, "", fmt.Errorf("%w (%s maps it to this file)", err, s.index)
		}
		return Tensor{}, "", err
	}
	if !slices.Equal(t.Shape, shape) {
		return Tensor{}, "", fmt.Errorf("%s: tensor %s has shape %v, but config.json implies %v", f.Path, name, t.Shape, shape)
	}
	if !t.DType.IsFloat() {
		return Tensor{}, "", fmt.Errorf("%s: tensor %s has dtype %s, want F32, F16, BF16 or F64", f.Path, name, t.DType)
	}
	s.done[name] = true
	return t, f.Path, nil
}

// take returns tensor name decoded to float32 with the given shape.
func (s *hfTensorSource) take(name string, shape ...int) ([]float32, error) {
	t, path, err := s.tensor(name, shape...)
	if err != nil {
		return nil, err
	}
	v, err := TensorFloat32s(t)
	ReleaseMapped(t.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// takeLinear returns the out × in projection weight called name, as a view
// of the mapping when it is BF16 or F16 (after checking that every value is
// finite), as float32 otherwise.
func (s *hfTensorSource) takeLinear(name string, out, in int) (*model.Linear, error) {
	t, path, err := s.tensor(name, out, in)
	if err != nil {
		return nil, err
	}
	var kind model.HalfKind
	switch t.DType {
	case BF16:
		kind = model.HalfBF16
	case F16:
		kind = model.HalfF16
	default:
		v, err := TensorFloat32s(t)
		ReleaseMapped(t.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &model.Linear{Out: out, In: in, W: v}, nil
	}
	if i := firstNonFiniteHalf(t.DType, t.Data); i >= 0 {
		return nil, fmt.Errorf("%s: tensor %s: non-finite value at index %d", path, name, i)
	}
	ReleaseMapped(t.Data)
	return model.NewHalfLinear(out, in, kind, t.Data), nil
}

// firstNonFiniteHalf returns the index of the first Inf or NaN of BF16 or
// F16 data, or −1.
func firstNonFiniteHalf(dt DType, data []byte) int {
	mask := uint16(0x7f80) // BF16 exponent
	if dt == F16 {
		mask = 0x7c00
	}
	for i := 0; i+1 < len(data); i += 2 {
		if binary.LittleEndian.Uint16(data[i:])&mask == mask {
			return i / 2
		}
	}
	return -1
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

// LoadHF reads a Hugging Face Llama or Qwen2 checkpoint directory
// (config.json with model.safetensors or a sharded
// model.safetensors.index.json; F32, F16 or BF16 tensors). The files are
// memory-mapped: BF16/F16 projection weights stay in their dtype as views of
// the mapping (model.Linear.Half; they are paged in when used and can be
// released with ReleaseMapped), everything else is widened to float32. The
// returned config has RopeInterleaved = false (the halves layout the
// checkpoint uses). The mappings live as long as the process.
func LoadHF(dir string) (*model.Config, *model.Weights, error) {
	cp := filepath.Join(dir, HFConfigFile)
	hc, err := readHFConfigFile(cp)
	if err != nil {
		return nil, nil, err
	}
	cfg, tied, err := hc.ModelConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("hugging face config %s: %w", cp, err)
	}
	src, err := newHFTensorSource(dir)
	if err != nil {
		return nil, nil, err
	}
	d, kv, hid, V := cfg.Dim, cfg.KVDim(), cfg.HiddenDim, cfg.VocabSize
	w := &model.Weights{Layers: make([]model.Layer, cfg.NLayers)}
	emb, err := src.takeLinear("model.embed_tokens.weight", V, d)
	if err != nil {
		return nil, nil, err
	}
	if emb.IsHalf() {
		w.TokenEmbeddingHalf = emb
	} else {
		w.TokenEmbedding = emb.W
	}
	shapes := map[string][2]int{
		model.ProjQ: {d, d}, model.ProjK: {kv, d}, model.ProjV: {kv, d}, model.ProjO: {d, d},
		model.ProjGate: {hid, d}, model.ProjUp: {hid, d}, model.ProjDown: {d, hid},
	}
	biased := hc.biasedProjections()
	for i := range w.Layers {
		if w.Layers[i].AttnNorm, err = src.take(fmt.Sprintf("model.layers.%d.input_layernorm.weight", i), d); err != nil {
			return nil, nil, err
		}
		if w.Layers[i].FFNNorm, err = src.take(fmt.Sprintf("model.layers.%d.post_attention_layernorm.weight", i), d); err != nil {
			return nil, nil, err
		}
		for _, p := range model.Projections {
			sh := shapes[p]
			lin, err := src.takeLinear(HFTensorName(i, p), sh[0], sh[1])
			if err != nil {
				return nil, nil, err
			}
			if biased[p] {
				if lin.Bias, err = src.take(HFBiasName(i, p), sh[0]); err != nil {
					return nil, nil, fmt.Errorf("%w (config.json: model_type %q, attention_bias %v, mlp_bias %v)", err, hc.ModelType, hc.AttentionBias, hc.MLPBias)
				}
			}
			if err := w.Layers[i].SetProjection(p, lin); err != nil {
				return nil, nil, err
			}
		}
	}
	if w.FinalNorm, err = src.take("model.norm.weight", d); err != nil {
		return nil, nil, err
	}
	switch {
	case !tied:
		cls, err := src.takeLinear("lm_head.weight", V, d)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (config.json has tie_word_embeddings false or absent)", err)
		}
		w.Classifier = cls
	case src.has("lm_head.weight"):
		// Tied checkpoints sometimes store the shared matrix twice.
		if _, _, err := src.tensor("lm_head.weight", V, d); err != nil {
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
		return nil, nil, fmt.Errorf("hugging face checkpoint %s: unexpected tensors %s (not implied by config.json: model_type %q, attention_bias %v, mlp_bias %v)", dir, strings.Join(extra, ", "), hc.ModelType, hc.AttentionBias, hc.MLPBias)
	}
	if err := w.Validate(cfg); err != nil {
		return nil, nil, fmt.Errorf("hugging face checkpoint %s: %w", dir, err)
	}
	return &cfg, w, nil
}
