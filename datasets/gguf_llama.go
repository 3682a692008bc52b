package datasets

import (
	"fmt"
	"strings"

	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/tokenizer"
)

// GGUF token types (llama.cpp's llama_token_type).
const (
	ggufTokenNormal  int32 = 1
	ggufTokenUnknown int32 = 2
	ggufTokenControl int32 = 3
	ggufTokenByte    int32 = 6
)

// ggufProjection maps the model's projection names to llama.cpp's.
var ggufProjection = map[string]string{
	model.ProjQ: "attn_q", model.ProjK: "attn_k", model.ProjV: "attn_v", model.ProjO: "attn_output",
	model.ProjGate: "ffn_gate", model.ProjUp: "ffn_up", model.ProjDown: "ffn_down",
}

// GGUFOptions configures SaveGGUF.
type GGUFOptions struct {
	// DType of the weight matrices and the embedding: F32 (default) or F16.
	// Norm vectors are always F32, as llama.cpp expects.
	DType DType
	// Name is general.name.
	Name string
	// Extra metadata appended after the standard keys (e.g. pruning info).
	Extra []GGUFKV
}

// LlamaGGUF returns the metadata and tensors of a llama.cpp "llama" GGUF
// for (cfg, w) and its SentencePiece tokenizer: Llama hyperparameters,
// tokenizer.ggml.model "llama" with tokens ("▁" for spaces), merge scores
// and token types (unknown, control for <s> and </s>, byte for <0xXX>), and
// the weights with q/k in the interleaved RoPE layout llama.cpp uses.
// A tied classifier is left out (llama.cpp reuses token_embd).
func LlamaGGUF(cfg model.Config, w *model.Weights, tok *tokenizer.Tokenizer, opt GGUFOptions) ([]GGUFKV, []Tensor, error) {
	if opt.DType == "" {
		opt.DType = F32
	}
	if _, err := ggmlType(opt.DType); err != nil {
		return nil, nil, err
	}
	cfg = cfg.WithDefaults()
	if tok == nil {
		return nil, nil, fmt.Errorf("gguf: a tokenizer is required")
	}
	if tok.VocabSize() != cfg.VocabSize {
		return nil, nil, fmt.Errorf("gguf: tokenizer has %d tokens, the model's vocabulary %d", tok.VocabSize(), cfg.VocabSize)
	}
	cfg, w, err := model.ConvertRopeLayout(cfg, w, true)
	if err != nil {
		return nil, nil, err
	}
	fileType := uint32(0)
	if opt.DType == F16 {
		fileType = 1
	}
	name := opt.Name
	if name == "" {
		name = "llama"
	}
	tokens := make([]string, cfg.VocabSize)
	scores := make([]float32, cfg.VocabSize)
	types := make([]int32, cfg.VocabSize)
	specials := []string{"<unk>", "<s>", "</s>"}
	for id := range tokens {
		p, s, _ := tok.Token(id)
		scores[id] = s
		switch {
		case id < len(specials):
			tokens[id] = specials[id]
			types[id] = ggufTokenControl
			if id == tokenizer.UNK {
				types[id] = ggufTokenUnknown
			}
		case id < 3+256:
			tokens[id], types[id] = p, ggufTokenByte
		default:
			tokens[id], types[id] = strings.ReplaceAll(p, " ", "▁"), ggufTokenNormal
		}
	}
	meta := []GGUFKV{
		{"general.architecture", "llama"},
		{"general.name", name},
		{"general.file_type", fileType},
		{"general.alignment", uint32(GGUFAlignment)},
		{"llama.vocab_size", uint32(cfg.VocabSize)},
		{"llama.context_length", uint32(cfg.SeqLen)},
		{"llama.embedding_length", uint32(cfg.Dim)},
		{"llama.block_count", uint32(cfg.NLayers)},
		{"llama.feed_forward_length", uint32(cfg.HiddenDim)},
		{"llama.attention.head_count", uint32(cfg.NHeads)},
		{"llama.attention.head_count_kv", uint32(cfg.NKVHeads)},
		{"llama.rope.dimension_count", uint32(cfg.HeadDim())},
		{"llama.rope.freq_base", float32(cfg.RopeTheta)},
		{"llama.attention.layer_norm_rms_epsilon", float32(cfg.NormEps)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.unknown_token_id", uint32(tokenizer.UNK)},
		{"tokenizer.ggml.bos_token_id", uint32(tokenizer.BOS)},
		{"tokenizer.ggml.eos_token_id", uint32(tokenizer.EOS)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
		{"tokenizer.ggml.add_space_prefix", true},
	}
	meta = append(meta, opt.Extra...)

	var ts []Tensor
	add := func(name string, dt DType, v []float32, shape ...int) error {
		t, err := TensorFromFloat32s(name, dt, shape, v)
		if err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
		ts = append(ts, t)
		return nil
	}
	if err := add("token_embd.weight", opt.DType, w.TokenEmbedding, cfg.VocabSize, cfg.Dim); err != nil {
		return nil, nil, err
	}
	for i := range w.Layers {
		L := &w.Layers[i]
		if err := add(fmt.Sprintf("blk.%d.attn_norm.weight", i), F32, L.AttnNorm, cfg.Dim); err != nil {
			return nil, nil, err
		}
		for _, p := range model.Projections {
			l, err := w.Linear(model.LinearName(i, p))
			if err != nil {
				return nil, nil, err
			}
			if err := add(fmt.Sprintf("blk.%d.%s.weight", i, ggufProjection[p]), opt.DType, l.W, l.Out, l.In); err != nil {
				return nil, nil, err
			}
		}
		if err := add(fmt.Sprintf("blk.%d.ffn_norm.weight", i), F32, L.FFNNorm, cfg.Dim); err != nil {
			return nil, nil, err
		}
	}
	if err := add("output_norm.weight", F32, w.FinalNorm, cfg.Dim); err != nil {
		return nil, nil, err
	}
	if w.Classifier != nil {
		if err := add("output.weight", opt.DType, w.Classifier.W, cfg.VocabSize, cfg.Dim); err != nil {
			return nil, nil, err
		}
	}
	return meta, ts, nil
}

// SaveGGUF writes (cfg, w) with tokenizer tok to path as a llama.cpp GGUF
// (see LlamaGGUF), atomically.
func SaveGGUF(path string, cfg model.Config, w *model.Weights, tok *tokenizer.Tokenizer, opt GGUFOptions) error {
	meta, ts, err := LlamaGGUF(cfg, w, tok, opt)
	if err != nil {
		return fmt.Errorf("save gguf %s: %w", path, err)
	}
	return WriteGGUF(path, meta, ts)
}
