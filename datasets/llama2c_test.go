package datasets

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/tokenizer"
	"github.com/stretchr/testify/require"
)

func TestLlama2cLoadStories260K(t *testing.T) {
	cfg, w, err := LoadLlama2C(llama2cSharedPath(t, llama2cStoriesBin))
	require.NoError(t, err)
	require.Equal(t, model.Config{
		Dim: 64, HiddenDim: 172, NLayers: 5, NHeads: 8, NKVHeads: 4, VocabSize: 512, SeqLen: 512,
		NormEps: 1e-5, RopeTheta: 10000, RopeInterleaved: true,
	}, *cfg)
	require.NoError(t, w.Validate(*cfg))
	require.True(t, w.Tied(), "positive vocab_size: shared classifier")
	require.Equal(t, 32, w.Layers[4].Wk.Out, "kv_dim = 4 heads × 8")
	require.Equal(t, 172, w.Layers[0].W2.In)
}

func TestLlama2cGreedyStories260K(t *testing.T) {
	m, tok := llama2cStories(t)
	prompt := tok.Encode("Once upon a time", true, false)
	gen, err := m.Generate(prompt, 40)
	require.NoError(t, err)
	text := tok.Decode(append(prompt, gen...))
	t.Logf("greedy: %q", text)
	require.Truef(t, len(text) > 0, "empty generation")
	const want = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park"
	require.Truef(t, len(text) >= len(want) && text[:len(want)] == want, "greedy continuation %q does not start with %q", text, want)
}

func TestLlama2cRopeHalvesLayoutStories260K(t *testing.T) {
	m, tok := llama2cStories(t)
	hcfg, hw, err := model.ConvertRopeLayout(m.Config(), m.Weights(), false)
	require.NoError(t, err)
	halves, err := model.New(hcfg, hw)
	require.NoError(t, err)
	// Check one layer by hand: HF's permutation moves pair (2i, 2i+1) of
	// each head to rows (i, i+hd/2).
	hd := hcfg.HeadDim()
	wk, pk := m.Weights().Layers[2].Wk, hw.Layers[2].Wk
	for h := 0; h < hcfg.NKVHeads; h++ {
		for i := 0; i < hd/2; i++ {
			for j := 0; j < 2; j++ {
				src, dst := h*hd+2*i+j, h*hd+j*hd/2+i
				require.Equal(t, wk.W[src*wk.In:(src+1)*wk.In], pk.W[dst*pk.In:(dst+1)*pk.In])
			}
		}
	}
	toks := [][]int{tok.Encode("Once upon a time, there was a big dog named Max.", true, false)}
	a, err := m.Forward(toks)
	require.NoError(t, err)
	b, err := halves.Forward(toks)
	require.NoError(t, err)
	var scale, diff float64
	for i := range a.Data {
		scale = math.Max(scale, math.Abs(float64(a.Data[i])))
		diff = math.Max(diff, math.Abs(float64(a.Data[i]-b.Data[i])))
	}
	require.LessOrEqualf(t, diff, 1e-5*scale, "max |Δlogit| %g vs max |logit| %g", diff, scale)

	// Saving the halves-layout model writes the llama2.c layout back.
	dir := t.TempDir()
	require.NoError(t, SaveLlama2C(filepath.Join(dir, "h.bin"), &hcfg, hw))
	require.NoError(t, SaveLlama2C(filepath.Join(dir, "i.bin"), ptr(m.Config()), m.Weights()))
	require.Equal(t, llama2cRead(t, filepath.Join(dir, "i.bin")), llama2cRead(t, filepath.Join(dir, "h.bin")))
}

func ptr[T any](v T) *T { return &v }

func llama2cRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

func TestLlama2cSaveLoadRoundTrip(t *testing.T) {
	src := llama2cSharedPath(t, llama2cStoriesBin)
	orig := llama2cRead(t, src)
	cfg, w, err := LoadLlama2C(src)
	require.NoError(t, err)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.bin")
	require.NoError(t, SaveLlama2C(a, cfg, w))
	first := llama2cRead(t, a)
	require.Len(t, first, len(orig))

	// Save → Load → Save is byte-identical, and the weights come back bit
	// for bit.
	cfg2, w2, err := LoadLlama2C(a)
	require.NoError(t, err)
	require.Equal(t, cfg, cfg2)
	require.Equal(t, w, w2)
	b := filepath.Join(dir, "b.bin")
	require.NoError(t, SaveLlama2C(b, cfg2, w2))
	require.Equal(t, first, llama2cRead(t, b))

	// Against the original export every byte matches except the freq_cis
	// tables, which run.c ignores and which we recompute with correctly
	// rounded cos/sin (PyTorch's differ by up to an ulp).
	freqStart := len(orig) - 2*cfg.SeqLen*cfg.HeadDim()/2*4
	require.Equal(t, orig[:freqStart], first[:freqStart])
	for k := freqStart; k < len(orig); k += 4 {
		x := math.Float32frombits(binary.LittleEndian.Uint32(orig[k:]))
		y := math.Float32frombits(binary.LittleEndian.Uint32(first[k:]))
		require.InDeltaf(t, x, y, 2e-7, "freq_cis value at byte %d", k)
	}

	// An untied, grouped-query model round-trips too (negative vocab_size).
	ucfg := model.Config{Dim: 16, HiddenDim: 24, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 300, SeqLen: 8, RopeInterleaved: true}
	uw, err := model.NewWeights(ucfg, false)
	require.NoError(t, err)
	for i := range uw.Classifier.W {
		uw.Classifier.W[i] = float32(i%7) - 3
	}
	uw.Layers[1].W2.W[5] = 0.25
	u := filepath.Join(dir, "u.bin")
	require.NoError(t, SaveLlama2C(u, &ucfg, uw))
	hdr := llama2cRead(t, u)[:28]
	require.Equal(t, int32(-300), int32(binary.LittleEndian.Uint32(hdr[20:])))
	ucfg2, uw2, err := LoadLlama2C(u)
	require.NoError(t, err)
	require.Equal(t, ucfg.WithDefaults(), *ucfg2)
	require.Equal(t, uw, uw2)
}

// llama2cHeader encodes a legacy header.
func llama2cHeader(v ...int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func TestLlama2cRejectsCorruptFiles(t *testing.T) {
	orig := llama2cRead(t, llama2cSharedPath(t, llama2cStoriesBin))
	body := orig[28:]
	withHeader := func(v ...int32) []byte { return append(llama2cHeader(v...), body...) }
	nan := append([]byte(nil), orig...)
	binary.LittleEndian.PutUint32(nan[28+4*100:], math.Float32bits(float32(math.NaN())))
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"empty", nil, []string{"header truncated: need 28 bytes, file has 0"}},
		{"short header", orig[:20], []string{"header truncated: need 28 bytes, file has 20"}},
		{"zero dim", withHeader(0, 172, 5, 8, 4, 512, 512), []string{"dim must be positive, got 0"}},
		{"negative layers", withHeader(64, 172, -5, 8, 4, 512, 512), []string{"n_layers must be positive, got -5"}},
		{"zero kv heads", withHeader(64, 172, 5, 8, 0, 512, 512), []string{"n_kv_heads must be positive"}},
		{"dim not divisible", withHeader(64, 172, 5, 7, 7, 512, 512), []string{"dim 64 is not divisible by n_heads 7"}},
		{"heads not divisible", withHeader(64, 172, 5, 8, 3, 512, 512), []string{"n_heads 8 is not divisible by n_kv_heads 3"}},
		{"huge", withHeader(1<<24, 1<<24, 1<<24, 1<<8, 1<<8, 512, 512), []string{"too large"}},
		{"truncated by one byte", orig[:len(orig)-1], []string{
			"file has 1056539 bytes, expected 1056540", "tensor freq_cis_imag [512, 4]", "8191 of its 8192 bytes present"}},
		{"truncated in wq", orig[:28+512*64*4+5*64*4+100], []string{
			"expected 1056540", "tensor wq [5, 64, 64]", "100 of its 81920 bytes present"}},
		{"trailing bytes", append(append([]byte(nil), orig...), 0, 0, 0, 0), []string{
			"file has 1056544 bytes, expected 1056540", "4 trailing bytes"}},
		{"unshared classifier missing", withHeader(64, 172, 5, 8, 4, -512, 512), []string{
			"expected 1187612", "classifier unshared", "tensor wcls [512, 64] (bytes 1056540..1187612) is truncated, 0 of its 131072 bytes"}},
		{"wrong hidden dim", withHeader(64, 128, 5, 8, 4, 512, 512), []string{"trailing bytes"}},
		{"NaN weight", nan, []string{"tensor token_embedding [512, 64]: non-finite value NaN at index 100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.bin")
			require.NoError(t, os.WriteFile(p, tc.data, 0o644))
			_, _, err := LoadLlama2C(p)
			require.Error(t, err)
			require.Contains(t, err.Error(), p, "error names the file")
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	_, _, err := LoadLlama2C(filepath.Join(t.TempDir(), "missing.bin"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestLlama2cSaveRejectsBadInput(t *testing.T) {
	cfg := model.Config{Dim: 16, HiddenDim: 24, NLayers: 1, NHeads: 2, NKVHeads: 2, VocabSize: 260, SeqLen: 4, RopeInterleaved: true}
	w, err := model.NewWeights(cfg, true)
	require.NoError(t, err)
	dir := t.TempDir()
	p := filepath.Join(dir, "m.bin")
	eps := cfg
	eps.NormEps = 1e-6
	broken := w.Clone()
	broken.Layers[0].Wq = nil
	for _, tc := range []struct {
		name string
		cfg  *model.Config
		w    *model.Weights
		want string
	}{
		{"nil config", nil, w, "nil config"},
		{"bad eps", &eps, w, "fixes norm_eps"},
		{"bad weights", &cfg, broken, "layers.0.q_proj is nil"},
		{"nil weights", &cfg, nil, "nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, SaveLlama2C(p, tc.cfg, tc.w), tc.want)
			_, err := os.Stat(p)
			require.ErrorIs(t, err, os.ErrNotExist, "nothing written on error")
		})
	}
	require.Error(t, SaveLlama2C(filepath.Join(dir, "no", "such", "dir", "m.bin"), &cfg, w))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "no temporary files left behind")
}

func TestLlama2cLoadTokenizerBin(t *testing.T) {
	tok, err := LoadTokenizerBin(llama2cSharedPath(t, llama2cStoriesTok))
	require.NoError(t, err)
	require.Equal(t, 512, tok.VocabSize())
	require.Equal(t, []int{tokenizer.BOS, 403, 407, 261, 378}, tok.Encode("Once upon a time", true, false))
	p := filepath.Join(t.TempDir(), "tok.bin")
	require.NoError(t, os.WriteFile(p, []byte{7, 0, 0, 0, 1, 2}, 0o644))
	_, err = LoadTokenizerBin(p)
	require.ErrorContains(t, err, p)
	require.ErrorContains(t, err, "token 0")
	_, err = LoadTokenizerBin(filepath.Join(t.TempDir(), "missing.bin"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
