package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/pipeline"
)

func TestBenchInferJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"bench-infer", "--shape", "64x128", "--batch", "1", "--block-size", "32", "--reps", "1", "--min-time", "1ms", "--bandwidth-mb", "4", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var recs []map[string]any
	if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
		t.Fatal(err)
	}
	var formats []string
	for _, r := range recs {
		formats = append(formats, r["format"].(string))
		if r["seconds_per_call"].(float64) <= 0 || r["speedup_vs_dense"].(float64) <= 0 {
			t.Errorf("record %v: non-positive time or speedup", r)
		}
	}
	if strings.Join(formats, ",") != "dense,2:4,armor" {
		t.Errorf("formats %v, want dense, 2:4, armor", formats)
	}
}

// TestEvalDeployed2of4: the hf/ export of a 2:4 model evaluates to the same
// perplexity compressed as through the reference forward, and a model that
// is not 2:4 is refused with the layer's name.
func TestEvalDeployed2of4(t *testing.T) {
	ckpt := shared.Path(t, "data", "models", "stories260K", "stories260K.bin")
	text := shared.Path(t, "data", "text", "tinystories", "tinystories_val.txt")
	tok := shared.Path(t, "data", "models", "stories260K", "tok512.bin")
	m, _, err := pipeline.LoadModel(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Weights()
	for _, name := range w.LinearNames() {
		l, _ := w.Linear(name)
		for g := 0; g < len(l.W); g += 4 {
			l.W[g], l.W[g+3] = 0, 0 // a crude but valid 2:4 mask
		}
	}
	dir := filepath.Join(t.TempDir(), "hf")
	if err := datasets.SaveHF(dir, m.Config(), w, datasets.HFSaveOptions{}); err != nil {
		t.Fatal(err)
	}
	ppl := func(deploy string) float64 {
		var out, errb bytes.Buffer
		if code := run([]string{"eval", "--model", dir, "--tokenizer", tok, "--text", text, "--max-windows", "2", "--window", "128", "--deploy", deploy}, &out, &errb); code != 0 {
			t.Fatalf("eval --deploy %s: exit %d: %s", deploy, code, errb.String())
		}
		var rep evalReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		return rep.Perplexity
	}
	ref, comp := ppl("ref"), ppl("2:4")
	if d := (comp - ref) / ref; d > 1e-5 || d < -1e-5 {
		t.Errorf("perplexity compressed %v, reference %v", comp, ref)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"eval", "--model", ckpt, "--tokenizer", tok, "--text", text, "--max-windows", "1", "--deploy", "2:4"}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "layers.0.") {
		t.Errorf("eval --deploy 2:4 on a dense model: exit %d, stderr %q; want an error naming a layer", code, errb.String())
	}
}
