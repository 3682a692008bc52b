package datasets

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prunebench/armor/model"
)

// referenceShapes are tiny checkpoints of each architecture the loader
// supports, small enough for a float64 torch reference.
var referenceShapes = []struct {
	name  string
	shape SynthShape
	dt    DType
}{
	{"llama-2 MHA", SynthShape{Name: "tiny-llama-2", Config: model.Config{Dim: 64, HiddenDim: 160, NLayers: 2, NHeads: 4, NKVHeads: 4, VocabSize: 96, SeqLen: 128, NormEps: 1e-5, RopeTheta: 10000}}, BF16},
	{"llama-3 GQA rope_theta 500000", SynthShape{Name: "tiny-llama-3", Config: model.Config{Dim: 64, HiddenDim: 224, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 96, SeqLen: 128, NormEps: 1e-5, RopeTheta: 500000}}, F16},
	{"llama-3.1 rope_scaling llama3", SynthShape{Name: "tiny-llama-3.1", Config: model.Config{Dim: 64, HiddenDim: 224, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 96, SeqLen: 128, NormEps: 1e-5, RopeTheta: 500000,
		RopeScaling: &model.RopeScaling{Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPosition: 16}}}, BF16},
	{"qwen2 q/k/v bias, tied", SynthShape{Name: "tiny-qwen2", Config: model.Config{Dim: 64, HiddenDim: 192, NLayers: 2, NHeads: 4, NKVHeads: 1, VocabSize: 96, SeqLen: 128, NormEps: 1e-6, RopeTheta: 1000000}, Tied: true, QKVBias: true}, F32},
	{"qwen2.5-7b-like untied bias", SynthShape{Name: "tiny-qwen2.5", Config: model.Config{Dim: 56, HiddenDim: 144, NLayers: 2, NHeads: 7, NKVHeads: 1, VocabSize: 96, SeqLen: 128, NormEps: 1e-6, RopeTheta: 1000000}, QKVBias: true}, BF16},
}

// torchPython returns a Python interpreter that imports torch and numpy:
// $ARMOR_PYTHON, python3 on the PATH, or Debian's /usr/bin/python3 (where
// apt's python3-torch installs, when the PATH's python3 is another one).
// When there is none the test says so loudly and is skipped.
func torchPython(t *testing.T) string {
	t.Helper()
	cands := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("ARMOR_PYTHON"); p != "" {
		cands = []string{p}
	}
	for _, py := range cands {
		if err := exec.Command(py, "-c", "import torch, numpy").Run(); err == nil {
			return py
		}
	}
	t.Log("######## SKIPPING the torch reference forward test: no python3 with torch (apt-get install -y python3-torch) ########")
	t.Skip("python3-torch missing: apt-get install -y python3-torch")
	return ""
}

// TestForwardMatchesTorchReference writes a tiny synthetic checkpoint of
// each architecture (sharded, in its dtype), loads it with LoadHF, and
// compares our float32 forward pass with an independent float64 torch
// implementation of Hugging Face's Llama/Qwen2 forward
// (testdata/hf_reference.py). It also checks the comparison is sensitive:
// dropping the biases or the RoPE scaling must break the agreement.
func TestForwardMatchesTorchReference(t *testing.T) {
	py := torchPython(t)
	script, err := filepath.Abs(filepath.Join("testdata", "hf_reference.py"))
	if err != nil {
		t.Fatal(err)
	}
	seqs := [][]int{make([]int, 48), {1, 5, 9, 2, 77}}
	for k := range seqs[0] {
		seqs[0][k] = (11*k*k + 3*k + 1) % 96
	}
	for _, tc := range referenceShapes {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := WriteSynthHF(dir, tc.shape, SynthOptions{DType: tc.dt, Seed: 3, ShardBytes: 60_000}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, HFIndexFile)); err != nil {
				t.Fatalf("checkpoint not sharded: %v", err)
			}
			cfg, w, err := LoadHF(dir)
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.New(*cfg, w)
			if err != nil {
				t.Fatal(err)
			}
			ref := torchLogits(t, py, script, dir, seqs)
			got := forwardRows(t, m, seqs)
			scale, d := 0.0, 0.0
			for i := range ref {
				scale = math.Max(scale, math.Abs(ref[i]))
				d = math.Max(d, math.Abs(ref[i]-got[i]))
			}
			tol := 1e-4 * math.Max(1, scale)
			t.Logf("max |logit| %.3g, max |ours − torch| %.3g (tolerance %.3g)", scale, d, tol)
			if d > tol {
				t.Fatalf("logits differ from the torch reference by %g (> %g)", d, tol)
			}
			// Sensitivity: the comparison must notice a missing feature.
			var broken *model.Model
			switch {
			case tc.shape.QKVBias:
				bw := *w
				bw.Layers = append([]model.Layer(nil), w.Layers...)
				for i := range bw.Layers {
					q := *bw.Layers[i].Wq
					q.Bias = nil
					bw.Layers[i].Wq = &q
				}
				broken, err = model.New(*cfg, &bw)
			case cfg.RopeScaling != nil:
				bc := *cfg
				bc.RopeScaling = nil
				broken, err = model.New(bc, w)
			}
			if err != nil {
				t.Fatal(err)
			}
			if broken != nil {
				bd := 0.0
				for i, v := range forwardRows(t, broken, seqs) {
					bd = math.Max(bd, math.Abs(ref[i]-v))
				}
				if bd < 10*tol {
					t.Errorf("without biases / RoPE scaling the logits still agree within %g: the test cannot see them", bd)
				}
			}
		})
	}
}

func forwardRows(t *testing.T, m *model.Model, seqs [][]int) []float64 {
	t.Helper()
	b, err := m.Forward(seqs)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(b.Data))
	for i, v := range b.Data {
		out[i] = float64(v)
	}
	return out
}

// torchLogits runs the reference script and returns its logits flattened
// in our Batch order (sequence by sequence, position by position).
func torchLogits(t *testing.T, py, script, dir string, seqs [][]int) []float64 {
	t.Helper()
	tmp := t.TempDir()
	in, out := filepath.Join(tmp, "tokens.json"), filepath.Join(tmp, "logits.json")
	b, _ := json.Marshal(seqs)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, dir, in, out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reference script: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][][]float64
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	var flat []float64
	for _, s := range rows {
		for _, r := range s {
			flat = append(flat, r...)
		}
	}
	return flat
}
