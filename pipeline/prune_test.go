package pipeline

import (
	"math"
	"testing"
	"time"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
)

func TestPruneEveryMethodBothProtocols(t *testing.T) {
	m, _, texts := stories(t)
	cal, err := datasets.CalibrationWindows(texts.Calibration, 8, 128)
	if err != nil {
		t.Fatal(err)
	}
	dense, err := Evaluate(m, texts.Eval, 128, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, meth := range []string{"magnitude", "wanda", "sparsegpt", "nowag", "armor"} {
		for _, proto := range []Protocol{ProtocolDense, ProtocolSequential} {
			cfg := methods.DefaultConfig()
			cfg.ARMOR.Iters, cfg.ARMOR.BlockSize = 5, 8
			t0 := time.Now()
			p, err := Prune(m, Options{Method: meth, Config: cfg, Protocol: proto, Calibration: cal})
			if err != nil {
				t.Fatalf("%s/%s: %v", meth, proto, err)
			}
			if len(p.Layers) != 35 {
				t.Fatalf("%s: %d layers pruned, want 35", meth, len(p.Layers))
			}
			ev, err := Evaluate(p.Model, texts.Eval, 128, 4)
			if err != nil {
				t.Fatal(err)
			}
			for k := range ev {
				if math.IsNaN(ev[k].Perplexity) || ev[k].Perplexity < dense[k].Perplexity {
					t.Errorf("%s/%s %s: perplexity %.3f vs dense %.3f", meth, proto, ev[k].Corpus, ev[k].Perplexity, dense[k].Perplexity)
				}
			}
			t.Logf("%s/%s: %s %.2f (dense %.2f), params %.3f, %.2fs", meth, proto, ev[0].Corpus, ev[0].Perplexity, dense[0].Perplexity, p.Params.Relative(), time.Since(t0).Seconds())
		}
	}
}

// TestPruneSparseGPTFloat32 prunes the model with SparseGPT in both
// precisions under the dense protocol (the same activations for both):
// float32, with its float32 Gram products, must give every layer the proxy
// loss and output error of float64 within methods' float32 tolerance (1e-5
// relative; see sparsegpt_precision_test.go) and the same kept count.
func TestPruneSparseGPTFloat32(t *testing.T) {
	m, _, texts := stories(t)
	cal, err := datasets.CalibrationWindows(texts.Calibration, 8, 128)
	if err != nil {
		t.Fatal(err)
	}
	var runs [2]*Pruned
	for k, prec := range []methods.Precision{methods.Float64, methods.Float32} {
		cfg := methods.DefaultConfig()
		cfg.SparseGPT.Precision = prec
		if runs[k], err = Prune(m, Options{Method: "sparsegpt", Config: cfg, Protocol: ProtocolDense, Calibration: cal}); err != nil {
			t.Fatalf("%s: %v", prec, err)
		}
	}
	worst := [2]float64{}
	for i, l64 := range runs[0].Layers {
		l32 := runs[1].Layers[i]
		if l32.Name != l64.Name || l32.Kept != l64.Kept {
			t.Fatalf("layer %d: %s kept %d (float32) vs %s kept %d", i, l32.Name, l32.Kept, l64.Name, l64.Kept)
		}
		for j, v := range [2][2]float64{{float64(l64.ProxyLoss), float64(l32.ProxyLoss)}, {float64(l64.OutputError), float64(l32.OutputError)}} {
			d := math.Abs(v[1]-v[0]) / v[0]
			if !(d <= 1e-5) {
				t.Errorf("%s: %s %.9g (float32) vs %.9g", l64.Name, [2]string{"proxy loss", "output error"}[j], v[1], v[0])
			}
			worst[j] = max(worst[j], d)
		}
	}
	t.Logf("largest relative difference: proxy loss %.2e, output error %.2e", worst[0], worst[1])
}
