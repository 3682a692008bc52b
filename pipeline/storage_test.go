package pipeline

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// synthModel writes a small BF16 checkpoint with real-model structure
// (GQA, sharded) and loads it.
func synthModel(t *testing.T, qkvBias bool) (string, *model.Model) {
	t.Helper()
	dir := t.TempDir()
	shape := datasets.SynthShape{Name: "tiny-gqa", QKVBias: qkvBias, Config: model.Config{Dim: 64, HiddenDim: 128, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 128, SeqLen: 64, NormEps: 1e-5, RopeTheta: 500000}}
	if _, err := datasets.WriteSynthHF(dir, shape, datasets.SynthOptions{Seed: 5, ShardBytes: 40_000}); err != nil {
		t.Fatal(err)
	}
	m, _, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func calWindows(n, length, vocab int) [][]int {
	w := make([][]int, n)
	for i := range w {
		w[i] = make([]int, length)
		for j := range w[i] {
			w[i][j] = (31*i + 7*j*j + 3) % vocab
		}
	}
	return w
}

// TestHalfPrecisionPruneExportReload prunes a BF16 checkpoint (with and
// without q/k/v biases) and checks: pruned layers stay BF16 and keep their
// bias; spilling the blocks to disk changes no byte; the export is BF16 and
// sharded like the input with an index; and the reloaded export computes
// bitwise the logits of the in-memory pruned model (also when exported as
// F32, since widening BF16 is exact).
func TestHalfPrecisionPruneExportReload(t *testing.T) {
	for _, bias := range []bool{false, true} {
		in, m := synthModel(t, bias)
		opt := Options{Method: "wanda", Config: methods.DefaultConfig(), Calibration: calWindows(4, 32, 128), Hessian: true}
		pr, err := Prune(m, opt)
		if err != nil {
			t.Fatal(err)
		}
		opt.SpillDir = t.TempDir()
		spilled, err := Prune(m, opt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(SpillFile(opt.SpillDir, 1)); err != nil {
			t.Errorf("no spill file: %v", err)
		}
		for _, name := range pr.Model.Weights().LinearNames() {
			a, _ := pr.Model.Weights().Linear(name)
			b, _ := spilled.Model.Weights().Linear(name)
			orig, _ := m.Weights().Linear(name)
			if !a.IsHalf() || a.HalfKind != model.HalfBF16 {
				t.Fatalf("%s: pruned layer is not BF16", name)
			}
			if !bytes.Equal(a.Half, b.Half) {
				t.Errorf("%s: spilled weights differ from in-memory ones", name)
			}
			if (a.Bias == nil) != (orig.Bias == nil) {
				t.Errorf("%s: bias lost (original %v, pruned %v)", name, orig.Bias != nil, a.Bias != nil)
			}
			if q := m.Weights().Layers[0].Wq; (q.Bias != nil) != bias {
				t.Fatalf("the checkpoint's q_proj bias is %v, want %v", q.Bias != nil, bias)
			}
		}
		seqs := calWindows(2, 40, 128)
		want, err := pr.Model.Forward(seqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, dt := range []datasets.DType{"", datasets.F32} {
			out := filepath.Join(t.TempDir(), "hf")
			eo := ExportOptionsFor(in, m)
			eo.DType = dt
			if err := ExportHFWith(out, spilled, eo); err != nil {
				t.Fatal(err)
			}
			var hc datasets.HFConfig
			b, _ := os.ReadFile(filepath.Join(out, datasets.HFConfigFile))
			if err := json.Unmarshal(b, &hc); err != nil {
				t.Fatal(err)
			}
			wantType := "bfloat16"
			if dt == datasets.F32 {
				wantType = "float32"
			}
			if hc.TorchDType != wantType {
				t.Errorf("export dtype %q, want %q", hc.TorchDType, wantType)
			}
			if bias && hc.ModelType != datasets.ModelTypeQwen2 {
				t.Errorf("biased export has model_type %q", hc.ModelType)
			}
			if dt == "" {
				if _, err := os.Stat(filepath.Join(out, datasets.HFIndexFile)); err != nil {
					t.Errorf("export of a sharded input is not sharded: %v", err)
				}
			}
			rm, _, err := LoadModel(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rm.Forward(seqs)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.Data {
				if want.Data[i] != got.Data[i] {
					t.Fatalf("dtype %q: reloaded export's logit %d is %v, in-memory %v", dt, i, got.Data[i], want.Data[i])
				}
			}
		}
	}
}

// TestFactoredExportKeepsDType checks the ARMOR factorised export of a BF16
// model is BF16 and reloads to the in-memory model's logits within BF16
// rounding of the factors.
func TestFactoredExportKeepsDType(t *testing.T) {
	_, m := synthModel(t, false)
	cfg := methods.DefaultConfig()
	cfg.ARMOR.Iters = 3
	cfg.ARMOR.BlockSize = 16
	pr, err := Prune(m, Options{Method: "armor", Config: cfg, Calibration: calWindows(4, 32, 128)})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "factored")
	if err := ExportFactored(dir, pr); err != nil {
		t.Fatal(err)
	}
	f, err := datasets.ReadSafetensors(filepath.Join(dir, FactoredWeights))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range f.Tensors {
		if x.DType != datasets.BF16 && x.DType != datasets.U8 {
			t.Errorf("factored tensor %s is %s, want BF16", x.Name, x.DType)
		}
	}
	rm, _, _, err := LoadFactored(dir)
	if err != nil {
		t.Fatal(err)
	}
	seqs := calWindows(2, 20, 128)
	a, _ := pr.Model.Forward(seqs)
	b, _ := rm.Forward(seqs)
	d, s := 0.0, 0.0
	for i := range a.Data {
		d = max(d, abs64(float64(a.Data[i]-b.Data[i])))
		s = max(s, abs64(float64(a.Data[i])))
	}
	if d > 0.05*s {
		t.Errorf("reloaded factored model's logits differ by %g (max |logit| %g)", d, s)
	}
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
