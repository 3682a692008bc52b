package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/harness/config"
)

func parse(t *testing.T, dir, text string) *config.Config {
	t.Helper()
	p := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	c, err := config.Load(p)
	require.NoError(t, err)
	return c
}

func TestSynthetic(t *testing.T) {
	c := parse(t, t.TempDir(), "experiment: e\nsource: {synthetic: {seed: 1, samples: 16, shapes: [{name: a, d_out: 4, d_in: 8}, {name: b, d_out: 8, d_in: 4}]}}\nmethods: [wanda]\n")
	s, err := Open(c)
	require.NoError(t, err)
	ls, err := s.Layers()
	require.NoError(t, err)
	require.Len(t, ls, 2)
	assert.NotEqual(t, ls[0].Identity, ls[1].Identity)
	l, err := s.Load("b")
	require.NoError(t, err)
	r, cc := l.W.Dims()
	assert.Equal(t, [2]int{8, 4}, [2]int{r, cc})
	assert.NotNil(t, l.Stats.H, "full H for SparseGPT")
	_, err = s.Load("zz")
	assert.Error(t, err)

	sel, err := Select(ls, []string{"b"})
	require.NoError(t, err)
	assert.Len(t, sel, 1)
	_, err = Select(ls, []string{"a", "q*"})
	assert.ErrorContains(t, err, `layers[1] "q*" matches no layer`)
}

func TestSafetensors(t *testing.T) {
	dir := t.TempDir()
	W := mat.NewDense(4, 8, nil)
	X := mat.NewDense(6, 8, nil)
	for i := range W.RawMatrix().Data {
		W.RawMatrix().Data[i] = float64(i%7) - 3
	}
	for i := range X.RawMatrix().Data {
		X.RawMatrix().Data[i] = float64(i%5) + 1
	}
	tw, err := datasets.TensorFromMatrix("W", datasets.F32, W)
	require.NoError(t, err)
	tx, err := datasets.TensorFromMatrix("X", datasets.F32, X)
	require.NoError(t, err)
	require.NoError(t, datasets.WriteSafetensors(filepath.Join(dir, "l1.safetensors"), []datasets.Tensor{tw, tx}, nil))
	c := parse(t, dir, "experiment: e\nsource: {safetensors: {files: [l1.safetensors]}}\nmethods: [wanda]\n")
	s, err := Open(c)
	require.NoError(t, err)
	ls, err := s.Layers()
	require.NoError(t, err)
	require.Len(t, ls, 1)
	assert.Equal(t, Info{Name: "l1", DOut: 4, DIn: 8, Identity: ls[0].Identity}, ls[0])
	l, err := s.Load("l1")
	require.NoError(t, err)
	assert.NotNil(t, l.X)
}

func TestModelFallback(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "m.bin"), []byte("x"), 0o644))
	text := "experiment: e\nsource: {model: {checkpoint: m.bin, layers: [1], projections: [q_proj, down_proj], fallback: %s}}\nmethods: [wanda]\n"

	RegisterModel(nil)
	_, err := Open(parse(t, dir, fmt.Sprintf(text, "error")))
	assert.ErrorContains(t, err, "not implemented")

	s, err := Open(parse(t, dir, fmt.Sprintf(text, "builtin")))
	require.NoError(t, err)
	assert.Equal(t, "builtin", s.Kind())
	assert.Contains(t, s.Note(), "NOT the model's layers")
	ls, err := s.Layers()
	require.NoError(t, err)
	assert.Equal(t, []Info{{Name: "layers.1.q_proj", DOut: 64, DIn: 64, Identity: ls[0].Identity}, {Name: "layers.1.down_proj", DOut: 64, DIn: 172, Identity: ls[1].Identity}}, ls)

	// A registered implementation is used, and its failure falls back too.
	var got ModelSpec
	RegisterModel(func(sp ModelSpec) (Source, error) { got = sp; return nil, errors.New("boom") })
	defer RegisterModel(nil)
	s, err = Open(parse(t, dir, fmt.Sprintf(text, "builtin")))
	require.NoError(t, err)
	assert.Contains(t, s.Note(), "boom")
	assert.Equal(t, filepath.Join(dir, "m.bin"), got.Checkpoint)
	assert.Equal(t, []int{1}, got.Layers)
}
