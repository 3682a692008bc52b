package datasets

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/armor/model"
)

var tinyShape = SynthShape{Name: "tiny", Config: model.Config{Dim: 64, HiddenDim: 160, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 96, SeqLen: 64, NormEps: 1e-5, RopeTheta: 10000}}

// TestSynthDeterministicAndLoadable checks that the same seed writes the
// same bytes, another seed other bytes, that the checkpoint is sharded with
// an index, loads with the configured shapes and keeps BF16 projections in
// half precision, and that the outlier channels are visible in the columns.
func TestSynthDeterministicAndLoadable(t *testing.T) {
	write := func(seed uint64) string {
		dir := t.TempDir()
		if _, err := WriteSynthHF(dir, tinyShape, SynthOptions{Seed: seed, ShardBytes: 50_000}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	a, b, c := write(1), write(1), write(2)
	shards, _ := filepath.Glob(filepath.Join(a, "model-*-of-*.safetensors"))
	if len(shards) < 2 {
		t.Fatalf("want several shards, got %v", shards)
	}
	for _, s := range shards {
		x, _ := os.ReadFile(s)
		y, _ := os.ReadFile(filepath.Join(b, filepath.Base(s)))
		z, _ := os.ReadFile(filepath.Join(c, filepath.Base(s)))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", filepath.Base(s))
		}
		if bytes.Equal(x, z) {
			t.Errorf("%s is the same for seeds 1 and 2", filepath.Base(s))
		}
	}
	cfg, w, err := LoadHF(a)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dim != 64 || cfg.NKVHeads != 2 || cfg.NLayers != 2 || w.Tied() {
		t.Errorf("loaded config %+v, tied %v", cfg, w.Tied())
	}
	q := w.Layers[0].Wq
	if !q.IsHalf() || q.HalfKind != model.HalfBF16 {
		t.Fatalf("q_proj is not kept in BF16 (half %v kind %v)", q.IsHalf(), q.HalfKind)
	}
	// Outlier channels: their columns' mean |w| is ~10× the others'.
	v := q.Float32s()
	out := outlierChannels(1, cfg.Dim)
	var so, sn float64
	var no, nn int
	for r := 0; r < q.Out; r++ {
		for j := 0; j < q.In; j++ {
			x := float64(v[r*q.In+j])
			if x < 0 {
				x = -x
			}
			if out[j] {
				so, no = so+x, no+1
			} else {
				sn, nn = sn+x, nn+1
			}
		}
	}
	if ratio := (so / float64(no)) / (sn / float64(nn)); ratio < 5 {
		t.Errorf("outlier columns are only %.1f× larger than the others", ratio)
	}
}

// TestWriteSafetensorsStreamMatches checks the streaming writer writes the
// bytes WriteSafetensors writes, and refuses a tensor writing the wrong
// length without leaving a file.
func TestWriteSafetensorsStreamMatches(t *testing.T) {
	a, _ := TensorFromFloat32s("a", BF16, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	b, _ := TensorFromFloat32s("b", F32, []int{3}, []float32{-1, 0.5, 7})
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "x.safetensors"), filepath.Join(dir, "y.safetensors")
	meta := map[string]string{"format": "pt"}
	if err := WriteSafetensors(p1, []Tensor{a, b}, meta); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensorsStream(p2, []StreamTensor{StreamOf(a), StreamOf(b)}, meta); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(p1)
	y, _ := os.ReadFile(p2)
	if !bytes.Equal(x, y) {
		t.Error("streamed file differs from WriteSafetensors'")
	}
	short := StreamOf(a)
	short.Write = func(w io.Writer) error { _, err := w.Write([]byte{1, 2}); return err }
	p3 := filepath.Join(dir, "z.safetensors")
	err := WriteSafetensorsStream(p3, []StreamTensor{short}, nil)
	if err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("short tensor: error %v does not name it", err)
	}
	if _, err := os.Stat(p3); err == nil {
		t.Error("a failed write left a file behind")
	}
}
