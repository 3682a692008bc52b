package pipeline

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// TestExportReloadReproducesPerplexity prunes stories260K with ARMOR, exports
// both forms, reloads each through LoadModel and checks that perplexity is
// reproduced: to 1e-6 relative for the
// Hugging Face export (same weights, RoPE in the halves layout, so only the
// summation order differs), and to 1e-4 for the factorized form, whose
// A·S·B is recomputed from float32 factors.
func TestExportReloadReproducesPerplexity(t *testing.T) {
	m, _, texts := stories(t)
	cal, err := datasets.CalibrationWindows(texts.Calibration, 4, 128)
	if err != nil {
		t.Fatal(err)
	}
	cfg := methods.DefaultConfig()
	cfg.ARMOR.BlockSize, cfg.ARMOR.Iters = 8, 3
	p, err := Prune(m, Options{Method: "armor", Config: cfg, Calibration: cal})
	if err != nil {
		t.Fatal(err)
	}
	if p.Protocol != ProtocolDense {
		t.Errorf("armor's default protocol is %s, want dense", p.Protocol)
	}
	if len(p.Factors) != 35 {
		t.Fatalf("%d factorized layers, want 35", len(p.Factors))
	}
	dir := t.TempDir()
	tok := shared.Path(t, "data", "models", "stories260K", "tok512.bin")
	outs, err := Export(dir, p, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 {
		t.Fatalf("exported %v, want hf and factored", outs)
	}
	checkExportExtras(t, filepath.Join(dir, "hf"), tok)
	eval := texts.Eval[1:] // TinyStories evaluation half
	want, err := Evaluate(p.Model, eval, 128, 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, format string
		tol         float64
	}{{filepath.Join(dir, "hf"), FormatHF, 1e-6}, {filepath.Join(dir, "factored"), FormatFactored, 1e-4}} {
		rm, format, err := LoadModel(tc.dir)
		if err != nil {
			t.Fatal(err)
		}
		if format != tc.format {
			t.Errorf("%s detected as %s, want %s", tc.dir, format, tc.format)
		}
		got, err := Evaluate(rm, eval, 128, 6)
		if err != nil {
			t.Fatal(err)
		}
		if rel := math.Abs(got[0].Perplexity/want[0].Perplexity - 1); rel > tc.tol {
			t.Errorf("%s: perplexity %.6f after reload, %.6f before (rel. diff %.2g > %g)", tc.format, got[0].Perplexity, want[0].Perplexity, rel, tc.tol)
		}
		if _, err := os.Stat(filepath.Join(tc.dir, "tokenizer.bin")); err != nil {
			t.Errorf("%s: tokenizer not copied: %v", tc.format, err)
		}
	}
	// The factorized layers reproduce the effective weights.
	fm, factors, man, err := LoadFactored(filepath.Join(dir, "factored"))
	if err != nil {
		t.Fatal(err)
	}
	if man.Method != "armor" || man.Protocol != ProtocolDense || len(factors) != 35 {
		t.Errorf("manifest: method %s protocol %s, %d layers", man.Method, man.Protocol, len(factors))
	}
	for _, name := range fm.Weights().LinearNames() {
		a, _ := fm.Weights().Linear(name)
		b, _ := p.Model.Weights().Linear(name)
		if d := maxAbsDiff(a.W, b.W); d > 1e-5 {
			t.Errorf("%s: reloaded A·S·B differs from Ŵ by %g", name, d)
		}
		if f := factors[name]; f.StoredParams() != p.Factors[name].StoredParams() {
			t.Errorf("%s: %d stored parameters after reload, %d before", name, f.StoredParams(), p.Factors[name].StoredParams())
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestFactoredValidateRejectsCorruption checks the compact form's checks.
func TestFactoredValidateRejectsCorruption(t *testing.T) {
	f := &Factored{DOut: 2, DIn: 4, Pattern: methods.Pattern24, BlockSize: 4,
		OutBlocks: []int{2}, InBlocks: []int{4},
		A: make([]float32, 4), B: make([]float32, 16), Groups: []uint8{0b0011, 0b0101}, Values: []float32{1, 2, 3, 4}}
	if err := f.Validate(); err != nil {
		t.Fatalf("valid factor rejected: %v", err)
	}
	bad := *f
	bad.Values = bad.Values[:3]
	if bad.Validate() == nil {
		t.Error("missing value accepted")
	}
	bad = *f
	bad.Groups = []uint8{0b10011, 0b0101}
	if bad.Validate() == nil {
		t.Error("mask bit beyond M accepted")
	}
	bad = *f
	bad.InBlocks = []int{2, 1}
	if bad.Validate() == nil {
		t.Error("blocks not covering d_in accepted")
	}
}

// TestParamCount checks the parameter accounting on stories260K's shapes.
func TestParamCount(t *testing.T) {
	m, _, _ := stories(t)
	cfg := m.Config()
	dense := CountParams(cfg, m.Weights(), nil)
	// 512·64 tied embedding + 11 norms of 64 + 5 blocks of 45 312 linear weights.
	if want := 512*64 + 64*11 + 5*45312; dense.Dense != want || dense.Stored != want {
		t.Errorf("dense count %+v, want %d", dense, want)
	}
	var reps []LayerReport
	for _, n := range m.Weights().LinearNames() {
		l, _ := m.Weights().Linear(n)
		reps = append(reps, LayerReport{Name: n, DOut: l.Out, DIn: l.In, Kept: l.Out * l.In / 2, Wrapper: 4 * (l.Out + l.In)})
	}
	p := CountParams(cfg, m.Weights(), reps)
	if got, want := p.WrapperOverhead(), 4624.0/45312; math.Abs(got-want) > 1e-12 {
		t.Errorf("wrapper overhead %g, want %g", got, want)
	}
	if got, want := p.LinearRelative(), 0.5+4624.0/45312; math.Abs(got-want) > 1e-12 {
		t.Errorf("linear relative %g, want %g", got, want)
	}
	_ = model.ProjQ
}
