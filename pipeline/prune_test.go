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
