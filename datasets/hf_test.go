package datasets

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/model"
)

// hfFixture loads stories260K in its llama2.c layout.
func hfFixture(t *testing.T) (*model.Model, [][]int) {
	t.Helper()
	cfg, w, err := LoadLlama2C(shared.Path(t, "data", "models", "stories260K", "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(*cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	// Three fixed token sequences of different lengths.
	seqs := [][]int{{1, 403, 407, 261, 378}, make([]int, 64), make([]int, 200)}
	for k := range seqs[1] {
		seqs[1][k] = (7*k + 3) % 512
	}
	for k := range seqs[2] {
		seqs[2][k] = (13*k*k + 5) % 512
	}
	return m, seqs
}

func maxLogitDiff(t *testing.T, a, b *model.Model, seqs [][]int) float64 {
	t.Helper()
	la, err := a.Forward(seqs)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Forward(seqs)
	if err != nil {
		t.Fatal(err)
	}
	d := 0.0
	for i := range la.Data {
		d = math.Max(d, math.Abs(float64(la.Data[i])-float64(lb.Data[i])))
	}
	return d
}

// TestHFRoundTripSameLogits converts stories260K to the Hugging Face layout
// (RoPE halves, q/k rows permuted) and back, in one file and sharded, and
// checks that every layout computes the same logits and the same
// perplexity on a fixed window set, and that the llama2.c file written
// back holds the original tensors.
func TestHFRoundTripSameLogits(t *testing.T) {
	m, seqs := hfFixture(t)
	for _, shard := range []int64{0, 200_000} {
		dir := t.TempDir()
		if err := SaveHF(dir, m.Config(), m.Weights(), HFSaveOptions{ShardBytes: shard}); err != nil {
			t.Fatal(err)
		}
		if shard > 0 {
			if _, err := os.Stat(filepath.Join(dir, HFIndexFile)); err != nil {
				t.Fatalf("sharded save wrote no index: %v", err)
			}
		}
		cfg, w, err := LoadHF(dir)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.RopeInterleaved {
			t.Fatal("hugging face checkpoint loaded with the interleaved RoPE layout")
		}
		hm, err := model.New(*cfg, w)
		if err != nil {
			t.Fatal(err)
		}
		// The q/k rows really are permuted: the raw tensors differ...
		q0, _ := m.Weights().Linear("layers.0.q_proj")
		q1, _ := hm.Weights().Linear("layers.0.q_proj")
		if q0.W[m.Config().Dim] == q1.W[m.Config().Dim] && q0.W[2*m.Config().Dim] == q1.W[2*m.Config().Dim] {
			t.Error("q_proj rows were not permuted for the halves layout")
		}
		// ...but the functions agree.
		if d := maxLogitDiff(t, m, hm, seqs); d > 1e-4 {
			t.Errorf("shard %d: logits differ by %g between the llama2.c and Hugging Face layouts", shard, d)
		}
		stream := append(append(append([]int{}, seqs[2]...), seqs[1]...), seqs[2]...)
		p0, err := m.Perplexity(stream, 64, 0)
		if err != nil {
			t.Fatal(err)
		}
		p1, err := hm.Perplexity(stream, 64, 0)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(p0.Perplexity/p1.Perplexity-1) > 1e-6 || p0.Windows != p1.Windows {
			t.Errorf("perplexity %v (llama2.c) vs %v (hf)", p0, p1)
		}
		// And back to llama2.c.
		back := filepath.Join(t.TempDir(), "back.bin")
		if err := SaveLlama2C(back, cfg, w); err != nil {
			t.Fatal(err)
		}
		bc, bw, err := LoadLlama2C(back)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range bw.LinearNames() {
			a, _ := bw.Linear(name)
			b, _ := m.Weights().Linear(name)
			for i := range a.W {
				if a.W[i] != b.W[i] {
					t.Fatalf("%s: weight %d is %v after llama2.c → hf → llama2.c, was %v", name, i, a.W[i], b.W[i])
				}
			}
		}
		if !bc.RopeInterleaved {
			t.Error("llama2.c checkpoint loaded with the halves layout")
		}
	}
}

// TestHFHalfPrecision stores F16 and BF16 tensors and checks they load,
// rounded as expected, with logits close to the F32 model's.
func TestHFHalfPrecision(t *testing.T) {
	m, seqs := hfFixture(t)
	for _, tc := range []struct {
		dt  DType
		tol float64
	}{{F16, 0.05}, {BF16, 0.5}} {
		dir := t.TempDir()
		if err := SaveHF(dir, m.Config(), m.Weights(), HFSaveOptions{DType: tc.dt}); err != nil {
			t.Fatal(err)
		}
		var hc HFConfig
		b, _ := os.ReadFile(filepath.Join(dir, HFConfigFile))
		if err := json.Unmarshal(b, &hc); err != nil {
			t.Fatal(err)
		}
		if hc.TorchDType != torchDType[tc.dt] || hc.TieWordEmbeddings == nil || !*hc.TieWordEmbeddings {
			t.Errorf("%s: config.json torch_dtype %q, tie_word_embeddings %v", tc.dt, hc.TorchDType, hc.TieWordEmbeddings)
		}
		cfg, w, err := LoadHF(dir)
		if err != nil {
			t.Fatal(err)
		}
		hm, err := model.New(*cfg, w)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxLogitDiff(t, m, hm, seqs); d > tc.tol || d == 0 {
			t.Errorf("%s: logits differ by %g from F32 (want 0 < d ≤ %g)", tc.dt, d, tc.tol)
		}
	}
}

// TestHFErrorsNameTheProblem checks that broken checkpoints give errors
// naming the file and the tensor or key.
func TestHFErrorsNameTheProblem(t *testing.T) {
	m, _ := hfFixture(t)
	save := func(t *testing.T) string {
		dir := t.TempDir()
		if err := SaveHF(dir, m.Config(), m.Weights(), HFSaveOptions{}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("missing tensor", func(t *testing.T) {
		dir := save(t)
		f, err := ReadSafetensors(filepath.Join(dir, HFWeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		var keep []Tensor
		for _, x := range f.Tensors {
			if x.Name != "model.layers.2.mlp.down_proj.weight" {
				keep = append(keep, x)
			}
		}
		if err := WriteSafetensors(filepath.Join(dir, HFWeightsFile), keep, nil); err != nil {
			t.Fatal(err)
		}
		_, _, err = LoadHF(dir)
		if err == nil || !strings.Contains(err.Error(), "model.layers.2.mlp.down_proj.weight") {
			t.Errorf("error %v does not name the missing tensor", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		dir := save(t)
		p := filepath.Join(dir, HFConfigFile)
		b, _ := os.ReadFile(p)
		b = []byte(strings.Replace(string(b), `"hidden_act": "silu"`, `"hidden_act": "gelu"`, 1))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadHF(dir)
		if err == nil || !strings.Contains(err.Error(), "hidden_act") || !strings.Contains(err.Error(), p) {
			t.Errorf("error %v does not name config.json and hidden_act", err)
		}
	})
	t.Run("no weights", func(t *testing.T) {
		dir := save(t)
		os.Remove(filepath.Join(dir, HFWeightsFile))
		_, _, err := LoadHF(dir)
		if err == nil || !strings.Contains(err.Error(), HFIndexFile) {
			t.Errorf("error %v does not say what was looked for", err)
		}
	})
}

// TestDataRootErrors checks the not-found messages and the mirror lookup.
func TestDataRootErrors(t *testing.T) {
	root := t.TempDir()
	_, err := FindInDataRoot(root, RelWikiText2Test, "WikiText-2 test split")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "text", "wikitext-2-raw", "wiki.test.raw")) || !strings.Contains(err.Error(), DataRootEnv) {
		t.Errorf("error %v does not say where it looked and how to fix it", err)
	}
	t.Setenv(DataRootEnv, root)
	if DataRoot("") != root || DataRoot("/x") != "/x" {
		t.Errorf("DataRoot: env %q → %q, configured → %q", root, DataRoot(""), DataRoot("/x"))
	}
	p := filepath.Join(root, "models", "m", "m.bin")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("x"), 0o644)
	got, err := LocateUnderRoot(root, "/nowhere/data/models/m/m.bin", "checkpoint")
	if err != nil || got != p {
		t.Errorf("LocateUnderRoot = %q, %v; want %q", got, err, p)
	}
}
