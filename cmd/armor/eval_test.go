package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/armor/internal/shared"
)

// evalJSON runs `armor eval` and decodes its one JSON object, checking
// that it has exactly the documented keys.
func evalJSON(t *testing.T, args ...string) map[string]float64 {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append([]string{"eval"}, args...), &out, &errb); code != 0 {
		t.Fatalf("armor eval %v: exit %d: %s", args, code, errb.String())
	}
	var m map[string]float64
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("armor eval output %q: %v", out.String(), err)
	}
	for _, k := range []string{"perplexity", "tokens", "windows", "predicted_tokens", "seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("armor eval output lacks %q: %s", k, out.String())
		}
	}
	if len(m) != 5 {
		t.Errorf("armor eval output has %d keys, want 5: %s", len(m), out.String())
	}
	return m
}

// TestPruneEvalConvertCommands runs the whole-model commands end to end on
// stories260K with few windows: prune (ARMOR, 2 iterations) with export,
// eval of the llama2.c file, of both exports and of a converted layout.
func TestPruneEvalConvertCommands(t *testing.T) {
	ckpt := shared.Path(t, "data", "models", "stories260K", "stories260K.bin")
	tok := shared.Path(t, "data", "models", "stories260K", "tok512.bin")
	text := shared.Path(t, "data", "text", "tinystories", "tinystories_val.txt")
	data := filepath.Dir(shared.Path(t, "data", "README.md"))
	t.Setenv("ARMOR_DATA", data)
	out := t.TempDir()

	dense := evalJSON(t, "--model", ckpt, "--tokenizer", tok, "--text", text, "--max-windows", "3", "--window", "128")
	if dense["windows"] != 3 || dense["tokens"] != 384 || dense["predicted_tokens"] != 381 {
		t.Errorf("dense eval counts %v", dense)
	}

	var so, se bytes.Buffer
	args := []string{"prune", "--method", "armor", "--block-size", "8", "--iters", "2", "--cal-windows", "4", "--cal-length", "64",
		"--max-windows", "2", "--out", out}
	if code := run(args, &so, &se); code != 0 {
		t.Fatalf("armor prune: exit %d: %s", code, se.String())
	}
	var rep struct {
		Protocol       string             `json:"protocol"`
		ParamsRelative float64            `json:"params_relative"`
		Perplexity     map[string]float64 `json:"perplexity"`
		Dense          map[string]float64 `json:"dense_perplexity"`
	}
	if err := json.Unmarshal(so.Bytes(), &rep); err != nil {
		t.Fatalf("prune output %q: %v", so.String(), err)
	}
	if rep.Protocol != "dense" || len(rep.Perplexity) != 2 || len(rep.Dense) != 2 || math.Abs(rep.ParamsRelative-0.7413) > 1e-3 {
		t.Errorf("prune report %+v", rep)
	}
	hf := evalJSON(t, "--model", filepath.Join(out, "hf"), "--text", text, "--max-windows", "3", "--window", "128")
	fac := evalJSON(t, "--model", filepath.Join(out, "factored"), "--text", text, "--max-windows", "3", "--window", "128")
	if math.Abs(hf["perplexity"]/fac["perplexity"]-1) > 1e-4 || hf["perplexity"] <= dense["perplexity"] {
		t.Errorf("exports disagree or are not pruned: hf %v, factored %v, dense %v", hf["perplexity"], fac["perplexity"], dense["perplexity"])
	}

	// llama2.c → hf (with tokenizer.json) → llama2.c: same perplexity.
	conv := filepath.Join(out, "conv-hf")
	back := filepath.Join(out, "back", "model.bin")
	for _, a := range [][]string{{"--in", ckpt, "--out", conv, "--tokenizer", tok}, {"--in", conv, "--out", back, "--tokenizer", tok}} {
		var o, e bytes.Buffer
		if code := run(append([]string{"convert"}, a...), &o, &e); code != 0 {
			t.Fatalf("armor convert %v: exit %d: %s", a, code, e.String())
		}
	}
	viaJSON := evalJSON(t, "--model", conv, "--text", text, "--max-windows", "3", "--window", "128") // tokenizer.json found beside it
	viaBack := evalJSON(t, "--model", back, "--text", text, "--max-windows", "3", "--window", "128")
	for name, m := range map[string]map[string]float64{"hf + tokenizer.json": viaJSON, "back to llama2.c": viaBack} {
		if math.Abs(m["perplexity"]/dense["perplexity"]-1) > 1e-6 {
			t.Errorf("%s: perplexity %v, dense %v", name, m["perplexity"], dense["perplexity"])
		}
	}

	// Errors say what is missing.
	var o, e bytes.Buffer
	if code := run([]string{"eval", "--model", filepath.Join(out, "nothing"), "--text", text}, &o, &e); code == 0 || !strings.Contains(e.String(), "nothing") {
		t.Errorf("eval of a missing model: exit %d, %q", code, e.String())
	}
	e.Reset()
	if code := run([]string{"prune", "--method", "armor", "--precision", "float16", "--no-eval"}, &o, &e); code == 0 || !strings.Contains(e.String(), "precision") {
		t.Errorf("prune with a bad precision: exit %d, %q", code, e.String())
	}
	e.Reset()
	if code := run([]string{"prune", "--method", "sparsegpt", "--precision", "float16", "--no-eval"}, &o, &e); code == 0 || !strings.Contains(e.String(), `sparsegpt precision "float16"`) {
		t.Errorf("sparsegpt prune with a bad precision: exit %d, %q", code, e.String())
	}
}
