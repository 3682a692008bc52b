package datasets

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/prunebench/armor/internal/atomicfile"
	"io"
	"math"
	"os"

	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/tokenizer"
)

// LoadLlama2C reads a legacy llama2.c checkpoint: a header of 7 little-endian
// int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len; a negative vocab_size means the classifier is not shared with the
// token embedding) followed by float32 tensors in llama2.c order:
// token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim],
// wk [L, kv_dim, dim], wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim],
// w1 [L, hidden, dim], w2 [L, dim, hidden], w3 [L, hidden, dim],
// rms_final [dim], freq_cis_real and freq_cis_imag [seq_len, head_size/2]
// (skipped) and, if unshared, wcls [vocab, dim].
//
// The header must be positive and consistent (dim % n_heads = 0,
// n_heads % n_kv_heads = 0, even head size), the file size must equal the
// size the header implies and every weight must be finite. The returned
// config uses the llama2.c conventions: NormEps 1e-5, RopeTheta 10000,
// RopeInterleaved true. Linear layers share the memory of the stacked
// tensors they come from.
func LoadLlama2C(path string) (*model.Config, *model.Weights, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("llama2.c checkpoint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("llama2.c checkpoint %s: %w", path, err)
	}
	cfg, w, err := readLlama2C(bufio.NewReaderSize(f, 1<<20), st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("llama2.c checkpoint %s: %w", path, err)
	}
	return cfg, w, nil
}

// readLlama2C parses a checkpoint of size bytes from r.
func readLlama2C(r io.Reader, size int64) (*model.Config, *model.Weights, error) {
	if size < llama2cHeaderBytes {
		return nil, nil, fmt.Errorf("header truncated: need %d bytes, file has %d", llama2cHeaderBytes, size)
	}
	var hdr [7]int32
	if err := binary.Read(r, binary.LittleEndian, &hdr); err != nil {
		return nil, nil, fmt.Errorf("reading header: %w", err)
	}
	shared := hdr[5] > 0
	vocab := int(hdr[5])
	if vocab < 0 {
		vocab = -vocab
	}
	cfg := &model.Config{
		Dim: int(hdr[0]), HiddenDim: int(hdr[1]), NLayers: int(hdr[2]), NHeads: int(hdr[3]),
		NKVHeads: int(hdr[4]), VocabSize: vocab, SeqLen: int(hdr[6]),
		NormEps: model.DefaultNormEps, RopeTheta: model.DefaultRopeTheta, RopeInterleaved: true,
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("bad header %v: %w", hdr, err)
	}
	layout, err := llama2cLayout(cfg, shared)
	if err != nil {
		return nil, nil, fmt.Errorf("bad header %v: %w", hdr, err)
	}
	if err := llama2cCheckSize(cfg, layout, shared, size); err != nil {
		return nil, nil, err
	}

	raw := make(map[string][]float32, len(layout))
	buf := make([]byte, 1<<16)
	for _, t := range layout {
		v := make([]float32, t.n)
		for off := 0; off < len(v); {
			n := min(len(v)-off, len(buf)/4)
			if _, err := io.ReadFull(r, buf[:4*n]); err != nil {
				return nil, nil, fmt.Errorf("tensor %s %s: %w", t.name, t.shape, err)
			}
			for i := 0; i < n; i++ {
				x := math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return nil, nil, fmt.Errorf("tensor %s %s: non-finite value %v at index %d", t.name, t.shape, x, off+i)
				}
				v[off+i] = x
			}
			off += n
		}
		raw[t.name] = v
	}
	return cfg, llama2cAssemble(cfg, raw), nil
}

// llama2cCheckSize compares the file size with the size implied by the
// header and, if they differ, names the first tensor that does not fit.
func llama2cCheckSize(cfg *model.Config, layout []llama2cTensor, shared bool, size int64) error {
	want := int64(llama2cHeaderBytes)
	for _, t := range layout {
		want += 4 * t.n
	}
	if size == want {
		return nil
	}
	dims := fmt.Sprintf("dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d vocab_size=%d (classifier %s) seq_len=%d",
		cfg.Dim, cfg.HiddenDim, cfg.NLayers, cfg.NHeads, cfg.NKVHeads, cfg.VocabSize, map[bool]string{true: "shared", false: "unshared"}[shared], cfg.SeqLen)
	if size > want {
		return fmt.Errorf("file has %d bytes, expected %d for %s: %d trailing bytes after the last tensor", size, want, dims, size-want)
	}
	off := int64(llama2cHeaderBytes)
	for _, t := range layout {
		end := off + 4*t.n
		if end > size {
			return fmt.Errorf("file has %d bytes, expected %d for %s: tensor %s %s (bytes %d..%d) is truncated, %d of its %d bytes present",
				size, want, dims, t.name, t.shape, off, end, max(0, size-off), 4*t.n)
		}
		off = end
	}
	return errors.New("internal error: size mismatch not located")
}

// llama2cAssemble splits the stacked tensors into per-layer weights. The
// slices alias raw; capacities are clipped so that appends cannot spill into
// a neighbour.
func llama2cAssemble(cfg *model.Config, raw map[string][]float32) *model.Weights {
	d, h, kv := cfg.Dim, cfg.HiddenDim, cfg.KVDim()
	part := func(name string, i, n int) []float32 { return raw[name][i*n : (i+1)*n : (i+1)*n] }
	lin := func(name string, i, out, in int) *model.Linear {
		return &model.Linear{Out: out, In: in, W: part(name, i, out*in)}
	}
	w := &model.Weights{
		TokenEmbedding: raw["token_embedding"],
		Layers:         make([]model.Layer, cfg.NLayers),
		FinalNorm:      raw["rms_final"],
	}
	for i := range w.Layers {
		w.Layers[i] = model.Layer{
			AttnNorm: part("rms_att", i, d),
			Wq:       lin("wq", i, d, d),
			Wk:       lin("wk", i, kv, d),
			Wv:       lin("wv", i, kv, d),
			Wo:       lin("wo", i, d, d),
			FFNNorm:  part("rms_ffn", i, d),
			W1:       lin("w1", i, h, d),
			W2:       lin("w2", i, d, h),
			W3:       lin("w3", i, h, d),
		}
	}
	if wcls, ok := raw["wcls"]; ok {
		w.Classifier = &model.Linear{Out: cfg.VocabSize, In: d, W: wcls}
	}
	return w
}

// SaveLlama2C writes cfg and w as a legacy llama2.c checkpoint (the format
// LoadLlama2C reads), atomically: the data go to a temporary file in the
// same directory, which is synced and renamed over path. vocab_size is
// written negative when w has an untied classifier; the freq_cis tables are
// recomputed from RopeTheta. The format fixes NormEps = 1e-5,
// RopeTheta = 10000 and the interleaved RoPE layout: other eps/θ are an
// error, and a halves-layout model has its Wq/Wk rows permuted back
// (model.ConvertRopeLayout) so that the file computes the same function.
func SaveLlama2C(path string, cfg *model.Config, w *model.Weights) error {
	if cfg == nil {
		return fmt.Errorf("save llama2.c checkpoint %s: nil config", path)
	}
	c := cfg.WithDefaults()
	if err := c.Validate(); err != nil {
		return fmt.Errorf("save llama2.c checkpoint %s: %w", path, err)
	}
	if c.NormEps != model.DefaultNormEps || c.RopeTheta != model.DefaultRopeTheta {
		return fmt.Errorf("save llama2.c checkpoint %s: the format fixes norm_eps %g and rope_theta %g, got %g and %g",
			path, model.DefaultNormEps, model.DefaultRopeTheta, c.NormEps, c.RopeTheta)
	}
	if c.Dim > math.MaxInt32 || c.VocabSize > math.MaxInt32 {
		return fmt.Errorf("save llama2.c checkpoint %s: sizes do not fit int32", path)
	}
	if c.RopeScaling != nil {
		return fmt.Errorf("save llama2.c checkpoint %s: the format has no rope_scaling", path)
	}
	c, w, err := model.ConvertRopeLayout(c, w, true)
	if err != nil {
		return fmt.Errorf("save llama2.c checkpoint %s: %w", path, err)
	}
	for i := range w.Layers {
		for _, p := range model.Projections {
			if l := w.Layers[i].Projection(p); l != nil && l.Bias != nil {
				return fmt.Errorf("save llama2.c checkpoint %s: %s has a bias, which the format cannot store", path, model.LinearName(i, p))
			}
		}
	}
	return llama2cWriteAtomic(path, func(bw *bufio.Writer) error { return llama2cWrite(bw, &c, w) })
}

// llama2cWrite writes the header and tensors in file order.
func llama2cWrite(bw *bufio.Writer, cfg *model.Config, w *model.Weights) error {
	vocab := int32(cfg.VocabSize)
	if !w.Tied() {
		vocab = -vocab
	}
	hdr := []int32{int32(cfg.Dim), int32(cfg.HiddenDim), int32(cfg.NLayers), int32(cfg.NHeads), int32(cfg.NKVHeads), vocab, int32(cfg.SeqLen)}
	if err := binary.Write(bw, binary.LittleEndian, hdr); err != nil {
		return err
	}
	var b [4]byte
	put := func(vs []float32) error {
		for _, v := range vs {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			if _, err := bw.Write(b[:]); err != nil {
				return err
			}
		}
		return nil
	}
	perLayer := func(get func(l *model.Layer) []float32) error {
		for i := range w.Layers {
			if err := put(get(&w.Layers[i])); err != nil {
				return err
			}
		}
		return nil
	}
	real, imag := llama2cFreqCis(cfg)
	steps := []func() error{
		func() error { return put(w.Embedding().Float32s()) },
		func() error { return perLayer(func(l *model.Layer) []float32 { return l.AttnNorm }) },
		func() error { return perLayer(func(l *model.Layer) []float32 { return l.Wq.Float32s() }) },
		func() error { return perLayer(func(l *model.Layer) []float32 { return l.Wk.Float32s() }) },
		func() error { return perLayer(func(l *model.Layer) []float32 { return l.Wv.Float32s() }) },
		func() error { return perLayer(func(l *model.Layer) []float32 { return l.Wo.Float32s() }) },
		func() error { return perLayer(func(l *model.Layer) []float32 { return l.FFNNorm }) },
		func() error { return perLayer(func(l *model.Layer) []float32 { return l.W1.Float32s() }) },
		func() error { return perLayer(func(l *model.Layer) []float32 { return l.W2.Float32s() }) },
		func() error { return perLayer(func(l *model.Layer) []float32 { return l.W3.Float32s() }) },
		func() error { return put(w.FinalNorm) },
		func() error { return put(real) },
		func() error { return put(imag) },
	}
	if !w.Tied() {
		steps = append(steps, func() error { return put(w.Classifier.Float32s()) })
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// llama2cWriteAtomic writes path atomically with write (see
// internal/atomicfile); on failure path is left untouched.
func llama2cWriteAtomic(path string, write func(*bufio.Writer) error) error {
	return atomicfile.Write(path, write)
}

// LoadTokenizerBin reads a llama2.c tokenizer.bin file (see tokenizer.Read);
// all tokens up to the end of the file are read.
func LoadTokenizerBin(path string) (*tokenizer.Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	t, err := tokenizer.Read(f, 0)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	return t, nil
}
