package pipeline

import (
	"testing"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// TestProtocols checks what each protocol calibrates on. Wanda's mask
// depends on the statistics, so: under the dense protocol every layer
// equals Wanda applied to that layer with statistics from the unpruned
// model (CollectStats); under the sequential protocol block 0 is the same
// (its inputs are the embeddings either way) and later blocks differ.
func TestProtocols(t *testing.T) {
	m, _, texts := stories(t)
	cal, err := datasets.CalibrationWindows(texts.Calibration, 6, 128)
	if err != nil {
		t.Fatal(err)
	}
	cfg := methods.DefaultConfig()
	dense, err := Prune(m, Options{Method: "wanda", Config: cfg, Protocol: ProtocolDense, Calibration: cal, ChunkWindows: 4})
	if err != nil {
		t.Fatal(err)
	}
	seq, err := Prune(m, Options{Method: "wanda", Config: cfg, Protocol: ProtocolSequential, Calibration: cal, ChunkWindows: 4})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := CollectStats(m, cal, nil, false, 3)
	if err != nil {
		t.Fatal(err)
	}
	wanda, _ := methods.New("wanda", cfg)
	for _, name := range m.Weights().LinearNames() {
		orig, _ := m.Weights().Linear(name)
		res, err := wanda.Prune(&methods.Layer{W: linearToDense(orig), Stats: stats[name]})
		if err != nil {
			t.Fatal(err)
		}
		want := denseToLinear(res.What)
		got, _ := dense.Model.Weights().Linear(name)
		if d := maxAbsDiff(got.W, want.W); d != 0 {
			t.Errorf("dense protocol %s differs from Wanda on the unpruned model's statistics by %g", name, d)
		}
		sq, _ := seq.Model.Weights().Linear(name)
		i, _, _ := model.ParseLinearName(name)
		d := maxAbsDiff(sq.W, want.W)
		if i == 0 && d != 0 {
			t.Errorf("sequential protocol %s (block 0) differs from the dense protocol by %g", name, d)
		}
		if i == 4 && name == model.LinearName(4, model.ProjDown) && d == 0 {
			t.Errorf("sequential protocol %s equals the dense protocol: later blocks were not calibrated on the pruned model", name)
		}
	}
	// The original model is untouched.
	w0, _ := m.Weights().Linear("layers.0.q_proj")
	zeros := 0
	for _, v := range w0.W {
		if v == 0 {
			zeros++
		}
	}
	if zeros > len(w0.W)/4 {
		t.Errorf("Prune modified the input model (%d zeros in layers.0.q_proj)", zeros)
	}
	if _, err := ParseProtocol("both"); err == nil {
		t.Error("unknown protocol accepted")
	}
}
