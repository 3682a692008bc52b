package datasets

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/model"
)

// TestGGUFRoundTrip writes stories260K as GGUF (F32 and F16) and reads it
// back: Llama metadata, the SentencePiece tokenizer, and every tensor with
// its row-major shape and values (q/k in the interleaved RoPE layout of the
// llama2.c checkpoint, which is llama.cpp's).
func TestGGUFRoundTrip(t *testing.T) {
	cfg, w, err := LoadLlama2C(shared.Path(t, "data", "models", "stories260K", "stories260K.bin"))
	require.NoError(t, err)
	tok, err := LoadTokenizerBin(shared.Path(t, "data", "models", "stories260K", "tok512.bin"))
	require.NoError(t, err)
	for _, dt := range []DType{F32, F16} {
		t.Run(string(dt), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.gguf")
			require.NoError(t, SaveGGUF(path, *cfg, w, tok, GGUFOptions{DType: dt, Name: "stories260K",
				Extra: []GGUFKV{{"armor.pruning_method", "none"}}}))
			g, err := ReadGGUF(path)
			require.NoError(t, err)
			assert.Equal(t, uint32(3), g.Version)
			want := map[string]any{
				"general.architecture": "llama", "general.name": "stories260K", "tokenizer.ggml.model": "llama",
				"llama.embedding_length": uint32(cfg.Dim), "llama.block_count": uint32(cfg.NLayers),
				"llama.feed_forward_length": uint32(cfg.HiddenDim), "llama.attention.head_count": uint32(cfg.NHeads),
				"llama.attention.head_count_kv": uint32(cfg.NKVHeads), "llama.context_length": uint32(cfg.SeqLen),
				"llama.rope.dimension_count": uint32(cfg.Dim / cfg.NHeads), "tokenizer.ggml.bos_token_id": uint32(1),
				"tokenizer.ggml.add_bos_token": true, "armor.pruning_method": "none",
			}
			for k, v := range want {
				got, ok := g.Get(k)
				if assert.True(t, ok, k) {
					assert.Equal(t, v, got, k)
				}
			}
			ft, _ := g.Get("general.file_type")
			assert.Equal(t, map[DType]uint32{F32: 0, F16: 1}[dt], ft)
			toks, _ := g.Get("tokenizer.ggml.tokens")
			types, _ := g.Get("tokenizer.ggml.token_type")
			scores, _ := g.Get("tokenizer.ggml.scores")
			require.Len(t, toks, 512)
			assert.Equal(t, []string{"<unk>", "<s>", "</s>", "<0x00>"}, toks.([]string)[:4])
			assert.Equal(t, []int32{2, 3, 3, 6}, types.([]int32)[:4])
			for id := 259; id < 512; id++ {
				p, s, _ := tok.Token(id)
				assert.Equal(t, strings.ReplaceAll(p, " ", "▁"), toks.([]string)[id])
				assert.Equal(t, s, scores.([]float32)[id])
				assert.Equal(t, int32(1), types.([]int32)[id])
			}
			// 1 embedding + 5 × (2 norms + 7 projections) + final norm; tied.
			assert.Len(t, g.Tensors, 1+cfg.NLayers*9+1)
			_, hasOutput := g.Tensor("output.weight")
			assert.False(t, hasOutput, "tied classifier")
			tol := map[DType]float64{F32: 0, F16: 1e-3}[dt]
			check := func(name string, want []float32, shape ...int) {
				tn, ok := g.Tensor(name)
				require.True(t, ok, name)
				assert.Equal(t, shape, tn.Shape, name)
				got, err := TensorFloat32s(tn)
				require.NoError(t, err)
				require.Len(t, got, len(want))
				for i := range want {
					if d := math.Abs(float64(got[i] - want[i])); d > tol*math.Max(1, math.Abs(float64(want[i]))) {
						t.Fatalf("%s[%d] = %g, want %g", name, i, got[i], want[i])
					}
				}
			}
			check("token_embd.weight", w.TokenEmbedding, cfg.VocabSize, cfg.Dim)
			q, _ := w.Linear(model.LinearName(2, model.ProjQ))
			check("blk.2.attn_q.weight", q.W, q.Out, q.In)
			down, _ := w.Linear(model.LinearName(4, model.ProjDown))
			check("blk.4.ffn_down.weight", down.W, down.Out, down.In)
			nt, _ := g.Tensor("blk.0.attn_norm.weight")
			assert.Equal(t, F32, nt.DType, "norms stay F32")
			check("output_norm.weight", w.FinalNorm, cfg.Dim)
		})
	}
}

func TestGGUFErrors(t *testing.T) {
	cfg, w, err := LoadLlama2C(shared.Path(t, "data", "models", "stories260K", "stories260K.bin"))
	require.NoError(t, err)
	tok, err := LoadTokenizerBin(shared.Path(t, "data", "models", "stories260K", "tok512.bin"))
	require.NoError(t, err)
	_, _, err = LlamaGGUF(*cfg, w, tok, GGUFOptions{DType: BF16})
	assert.ErrorContains(t, err, "F32 and F16")
	small := *cfg
	small.VocabSize = 300
	_, _, err = LlamaGGUF(small, w, tok, GGUFOptions{})
	assert.ErrorContains(t, err, "tokenizer has 512 tokens")
	_, _, err = LlamaGGUF(*cfg, w, nil, GGUFOptions{})
	assert.ErrorContains(t, err, "tokenizer is required")
	assert.ErrorContains(t, EncodeGGUF(&bytes.Buffer{}, []GGUFKV{{"a", 1}}, nil), "unsupported value type int")
	assert.ErrorContains(t, EncodeGGUF(&bytes.Buffer{}, []GGUFKV{{"a", "x"}, {"a", "y"}}, nil), `"a" twice`)

	var buf bytes.Buffer
	ten, err := TensorFromFloat32s("x", F32, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	require.NoError(t, err)
	require.NoError(t, EncodeGGUF(&buf, []GGUFKV{{"k", []uint32{1, 2}}}, []Tensor{ten}))
	data := buf.Bytes()
	g, err := ParseGGUF(data)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3}, g.Tensors[0].Shape)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"magic", append([]byte("GGUX"), data[4:]...), "magic"},
		{"truncated header", data[:30], "truncated"},
		{"truncated data", data[:len(data)-16], "past the end"},
	} {
		_, err := ParseGGUF(c.b)
		assert.ErrorContains(t, err, c.want, c.name)
	}
}
