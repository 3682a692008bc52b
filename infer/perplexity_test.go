package infer

import (
	"math"
	"sort"
	"testing"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/pipeline"
)

// prune24 zeroes the two smallest-magnitude weights of every group of 4.
func prune24(w []float32) {
	for g := 0; g+4 <= len(w); g += 4 {
		idx := []int{0, 1, 2, 3}
		sort.SliceStable(idx, func(a, b int) bool { return math.Abs(float64(w[g+idx[a]])) < math.Abs(float64(w[g+idx[b]])) })
		w[g+idx[0]], w[g+idx[1]] = 0, 0
	}
}

// TestPerplexityCompressedEqualsDenseMasked prunes stories260K to 2:4 and
// compares the perplexity of the dense masked model (the reference
// forward, gonum GEMM) with that of the same model compressed (f32).
func TestPerplexityCompressedEqualsDenseMasked(t *testing.T) {
	ckpt := shared.Path(t, "data", "models", "stories260K", "stories260K.bin")
	tok := shared.Path(t, "data", "models", "stories260K", "tok512.bin")
	text := shared.Path(t, "data", "text", "tinystories", "tinystories_val.txt")
	m, _, err := pipeline.LoadModel(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Weights()
	for _, name := range w.LinearNames() {
		l, _ := w.Linear(name)
		prune24(l.W)
	}
	enc, bos, _, err := pipeline.LoadTokenizer(tok, ckpt, m.Config().VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := datasets.ReadLines(text)
	if err != nil {
		t.Fatal(err)
	}
	stream := pipeline.Stream(enc, lines[:min(len(lines), 400)], bos)
	windows := 6
	if testing.Short() {
		windows = 2
	}
	dense, err := m.Perplexity(stream, 256, windows)
	if err != nil {
		t.Fatal(err)
	}
	before := ResidentBytes(m)
	cm, err := model.New(m.Config(), w.Clone())
	if err != nil {
		t.Fatal(err)
	}
	p := methods.Pattern24
	if err := Convert(cm, nil, Options{Sparse: &p}); err != nil {
		t.Fatal(err)
	}
	comp, err := cm.Perplexity(stream, 256, windows)
	if err != nil {
		t.Fatal(err)
	}
	if rel := math.Abs(comp.Perplexity-dense.Perplexity) / dense.Perplexity; rel > 1e-5 || comp.PredictedTokens != dense.PredictedTokens {
		t.Fatalf("compressed perplexity %v (%d tokens), dense masked %v (%d): relative difference %.3g > 1e-5", comp.Perplexity, comp.PredictedTokens, dense.Perplexity, dense.PredictedTokens, rel)
	}
	after := ResidentBytes(cm)
	var want int64
	for _, name := range w.LinearNames() {
		l, _ := w.Linear(name)
		want += int64(4*l.Out*l.In/2 + l.Out*((l.In+7)/8)) // half the values, 2 bits per kept value
	}
	if after.Linear != want || after.DenseLinear != before.Linear {
		t.Errorf("2:4 f32 linears take %d bytes (dense %d), want %d", after.Linear, before.Linear, want)
	}
	t.Logf("perplexity dense masked %.6f, compressed %.6f; linear bytes %d → %d", dense.Perplexity, comp.Perplexity, before.Linear, after.Linear)
	// A layer that is not 2:4 is refused by name.
	w2 := m.Weights().Clone()
	l, _ := w2.Linear(model.LinearName(1, model.ProjUp))
	l.W[0], l.W[1], l.W[2], l.W[3] = 1, 1, 1, 1
	m2, _ := model.New(m.Config(), w2)
	if err := Convert(m2, nil, Options{Sparse: &p}); err == nil {
		t.Error("converting a non-2:4 layer to 2:4 succeeded")
	} else {
		t.Log(err)
	}
}
