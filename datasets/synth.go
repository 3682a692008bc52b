package datasets

import (
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/prunebench/armor/model"
)

// SynthShape is the architecture of a published Llama-family checkpoint,
// for writing random checkpoints with its real shapes (WriteSynthHF).
type SynthShape struct {
	Name string
	// Config holds the sizes (NLayers is the real depth; SynthOptions can
	// override it and the vocabulary).
	Config model.Config
	// Tied shares the classifier with the embedding.
	Tied bool
	// QKVBias adds biases to q, k and v (Qwen2); the checkpoint is then
	// written as model_type qwen2.
	QKVBias bool
}

// SynthShapes are the shapes `armor synth --shape` knows, by name.
var SynthShapes = map[string]SynthShape{
	"tinyllama-1.1b": {Name: "tinyllama-1.1b", Config: model.Config{Dim: 2048, HiddenDim: 5632, NLayers: 22, NHeads: 32, NKVHeads: 4, VocabSize: 32000, SeqLen: 2048, NormEps: 1e-5, RopeTheta: 10000}},
	"llama-2-7b":     {Name: "llama-2-7b", Config: model.Config{Dim: 4096, HiddenDim: 11008, NLayers: 32, NHeads: 32, NKVHeads: 32, VocabSize: 32000, SeqLen: 4096, NormEps: 1e-5, RopeTheta: 10000}},
	"llama-2-13b":    {Name: "llama-2-13b", Config: model.Config{Dim: 5120, HiddenDim: 13824, NLayers: 40, NHeads: 40, NKVHeads: 40, VocabSize: 32000, SeqLen: 4096, NormEps: 1e-5, RopeTheta: 10000}},
	"llama-2-70b":    {Name: "llama-2-70b", Config: model.Config{Dim: 8192, HiddenDim: 28672, NLayers: 80, NHeads: 64, NKVHeads: 8, VocabSize: 32000, SeqLen: 4096, NormEps: 1e-5, RopeTheta: 10000}},
	"llama-3-8b":     {Name: "llama-3-8b", Config: model.Config{Dim: 4096, HiddenDim: 14336, NLayers: 32, NHeads: 32, NKVHeads: 8, VocabSize: 128256, SeqLen: 8192, NormEps: 1e-5, RopeTheta: 500000}},
	"llama-3.1-8b": {Name: "llama-3.1-8b", Config: model.Config{Dim: 4096, HiddenDim: 14336, NLayers: 32, NHeads: 32, NKVHeads: 8, VocabSize: 128256, SeqLen: 131072, NormEps: 1e-5, RopeTheta: 500000,
		RopeScaling: &model.RopeScaling{Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPosition: 8192}}},
	"qwen2.5-0.5b": {Name: "qwen2.5-0.5b", Config: model.Config{Dim: 896, HiddenDim: 4864, NLayers: 24, NHeads: 14, NKVHeads: 2, VocabSize: 151936, SeqLen: 32768, NormEps: 1e-6, RopeTheta: 1000000}, Tied: true, QKVBias: true},
	"qwen2.5-7b":   {Name: "qwen2.5-7b", Config: model.Config{Dim: 3584, HiddenDim: 18944, NLayers: 28, NHeads: 28, NKVHeads: 4, VocabSize: 152064, SeqLen: 32768, NormEps: 1e-6, RopeTheta: 1000000}, QKVBias: true},
}

// SynthShapeNames lists the known shapes, sorted.
func SynthShapeNames() []string {
	names := make([]string, 0, len(SynthShapes))
	for n := range SynthShapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupSynthShape returns the shape called name, or an error listing the
// known ones.
func LookupSynthShape(name string) (SynthShape, error) {
	s, ok := SynthShapes[name]
	if !ok {
		return SynthShape{}, fmt.Errorf("unknown shape %q (known: %s)", name, strings.Join(SynthShapeNames(), ", "))
	}
	return s, nil
}

// SynthOptions control WriteSynthHF.
type SynthOptions struct {
	// Layers and Vocab, when > 0, replace the shape's depth and vocabulary
	// (a small vocabulary lets a shipped tokenizer drive the model).
	Layers, Vocab int
	// SeqLen, when > 0, replaces the context length.
	SeqLen int
	// DType of the tensors: BF16 (default), F16 or F32.
	DType DType
	// Seed selects the random values; the same seed gives the same bytes.
	Seed uint64
	// ShardBytes is the shard limit (≤ 0: DefaultShardBytes). The
	// checkpoint is always written sharded with an index, as published
	// checkpoints are.
	ShardBytes int64
}

// SynthConfig returns the model configuration shape s has under opt.
func SynthConfig(s SynthShape, opt SynthOptions) model.Config {
	cfg := s.Config
	if opt.Layers > 0 {
		cfg.NLayers = opt.Layers
	}
	if opt.Vocab > 0 {
		cfg.VocabSize = opt.Vocab
	}
	if opt.SeqLen > 0 {
		cfg.SeqLen = opt.SeqLen
	}
	return cfg
}

// WriteSynthHF writes a random checkpoint of shape s into dir in Hugging
// Face layout: config.json, model-0000k-of-0000n.safetensors shards and
// model.safetensors.index.json. Values are generated and written a tensor
// at a time (memory is bounded by one block of rows, whatever the model's
// size) and are a deterministic function of the seed and the tensor name:
//
//   - projection weights are Laplace-distributed (heavier tails than a
//     Gaussian) with scale 1/√d_in, 0.1% of entries spiked ×8, and the
//     input columns of a fixed set of outlier channels (0.5% of the model
//     width, the same channels in every layer, as in trained LLMs' residual
//     streams) scaled ×10 in the layers reading the residual stream;
//   - RMSNorm gains are 1 + N(0, 0.05²), biases N(0, 0.02²), embeddings
//     Laplace with scale 0.02.
func WriteSynthHF(dir string, s SynthShape, opt SynthOptions) (model.Config, error) {
	cfg := SynthConfig(s, opt).WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("synth %s: %w", s.Name, err)
	}
	if opt.DType == "" {
		opt.DType = BF16
	}
	if _, ok := torchDType[opt.DType]; !ok {
		return cfg, fmt.Errorf("synth: dtype %q: want BF16, F16 or F32", string(opt.DType))
	}
	if opt.ShardBytes <= 0 {
		opt.ShardBytes = DefaultShardBytes
	}
	g := synthGen{seed: opt.Seed, dt: opt.DType, outliers: outlierChannels(opt.Seed, cfg.Dim)}
	d, kv, hid, V := cfg.Dim, cfg.KVDim(), cfg.HiddenDim, cfg.VocabSize
	ts := []StreamTensor{g.matrix("model.embed_tokens.weight", V, d, 0.02, false)}
	shapes := map[string][2]int{
		model.ProjQ: {d, d}, model.ProjK: {kv, d}, model.ProjV: {kv, d}, model.ProjO: {d, d},
		model.ProjGate: {hid, d}, model.ProjUp: {hid, d}, model.ProjDown: {d, hid},
	}
	for i := 0; i < cfg.NLayers; i++ {
		ts = append(ts, g.vector(fmt.Sprintf("model.layers.%d.input_layernorm.weight", i), d, 1, 0.05))
		for _, p := range model.Projections {
			sh := shapes[p]
			residualInput := p != model.ProjO && p != model.ProjDown
			ts = append(ts, g.matrix(HFTensorName(i, p), sh[0], sh[1], 1/math.Sqrt(float64(sh[1])), residualInput))
			if s.QKVBias && (p == model.ProjQ || p == model.ProjK || p == model.ProjV) {
				ts = append(ts, g.vector(HFBiasName(i, p), sh[0], 0, 0.02))
			}
		}
		ts = append(ts, g.vector(fmt.Sprintf("model.layers.%d.post_attention_layernorm.weight", i), d, 1, 0.05))
	}
	ts = append(ts, g.vector("model.norm.weight", d, 1, 0.05))
	if !s.Tied {
		ts = append(ts, g.matrix("lm_head.weight", V, d, 1/math.Sqrt(float64(d)), true))
	}
	hc := NewHFConfig(cfg, s.Tied, torchDType[opt.DType])
	if s.QKVBias {
		hc.Architectures, hc.ModelType = []string{"Qwen2ForCausalLM"}, ModelTypeQwen2
	}
	meta := map[string]string{"synthetic": s.Name, "seed": fmt.Sprint(opt.Seed)}
	if err := WriteHFCheckpoint(dir, hc, ts, HFSaveOptions{ShardBytes: opt.ShardBytes, Metadata: meta}); err != nil {
		return cfg, fmt.Errorf("synth %s: %w", s.Name, err)
	}
	return cfg, nil
}

// synthGen generates the tensors of a synthetic checkpoint.
type synthGen struct {
	seed     uint64
	dt       DType
	outliers []bool
}

// outlierChannels picks 0.5% (at least one) of the dim channels.
func outlierChannels(seed uint64, dim int) []bool {
	r := rand.New(rand.NewPCG(seed, 0x6f75746c69657273))
	out := make([]bool, dim)
	for n := max(1, dim/200); n > 0; {
		if j := r.IntN(dim); !out[j] {
			out[j] = true
			n--
		}
	}
	return out
}

// rowRNG is the generator of row r of tensor name: rows are independent,
// so they can be generated in parallel with the same result.
func (g synthGen) rowRNG(name string, r int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(g.seed^h.Sum64(), uint64(r)))
}

// laplace returns a Laplace(0, 1) variate.
func laplace(r *rand.Rand) float64 {
	u := r.Float64() - 0.5
	if u < 0 {
		return math.Log1p(2 * u)
	}
	return -math.Log1p(-2 * u)
}

// matrix is an out × in Laplace matrix of the given scale, generated a
// block of rows at a time; with outlierCols the outlier channels' columns
// are scaled ×10.
func (g synthGen) matrix(name string, out, in int, scale float64, outlierCols bool) StreamTensor {
	return StreamTensor{Name: name, DType: g.dt, Shape: []int{out, in}, Write: func(w io.Writer) error {
		const block = 64
		nw := runtime.GOMAXPROCS(0)
		buf := make([]float32, block*in)
		for r0 := 0; r0 < out; r0 += block {
			r1 := min(out, r0+block)
			var wg sync.WaitGroup
			for k := 0; k < nw; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := r0 + k; r < r1; r += nw {
						rng := g.rowRNG(name, r)
						row := buf[(r-r0)*in : (r-r0+1)*in]
						for j := range row {
							v := scale * laplace(rng)
							if rng.IntN(1000) == 0 {
								v *= 8
							}
							if outlierCols && j < len(g.outliers) && g.outliers[j] {
								v *= 10
							}
							row[j] = float32(v)
						}
					}
				}()
			}
			wg.Wait()
			if err := EncodeFloat32s(w, g.dt, buf[:(r1-r0)*in]); err != nil {
				return err
			}
		}
		return nil
	}}
}

// vector is a length-n vector mean + N(0, sd²).
func (g synthGen) vector(name string, n int, mean, sd float64) StreamTensor {
	return StreamTensor{Name: name, DType: g.dt, Shape: []int{n}, Write: func(w io.Writer) error {
		rng := g.rowRNG(name, 0)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(mean + sd*rng.NormFloat64())
		}
		return EncodeFloat32s(w, g.dt, v)
	}}
}
