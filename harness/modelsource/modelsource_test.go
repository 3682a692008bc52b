package modelsource

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/source"
	"github.com/prunebench/armor/internal/shared"
)

// TestModelSourceAndCells opens stories260K as a harness model source,
// loads a layer with real statistics, computes the model cells of a small
// config (dense, magnitude, ARMOR at one block size) and checks that a
// second run finds them all done.
func TestModelSourceAndCells(t *testing.T) {
	data := filepath.Dir(shared.Path(t, "data", "README.md"))
	dir := t.TempDir()
	yaml := `experiment: ms
output_dir: ` + dir + `
source:
  model:
    checkpoint: ${ARMOR_DATA}/models/stories260K/stories260K.bin
    tokenizer: ${ARMOR_DATA}/models/stories260K/tok512.bin
    layers: [1]
    projections: [q_proj, down_proj]
calibration:
  corpus: ` + filepath.Join(data, "text/tinystories/tinystories_val.txt") + `
  sequences: 4
  length: 64
methods: [magnitude, armor]
armor:
  block_size: [8]
  iters: [2]
evaluation:
  perplexity:
    - ` + filepath.Join(data, "text/wikitext-2-raw/wiki.test.raw") + `
    - ` + filepath.Join(data, "text/tinystories/tinystories_val.txt") + `
`
	// The config names the checkpoint under the data root.
	t.Setenv("ARMOR_DATA", data)
	c, err := config.Parse(filepath.Join(dir, "ms.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(MaxWindowsEnv, "3")
	src, err := source.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	if src.Kind() != "model" || src.Note() != "" {
		t.Fatalf("source kind %q note %q: the model source is not registered", src.Kind(), src.Note())
	}
	infos, _ := src.Layers()
	if len(infos) != 2 || infos[0].Name != "layers.1.q_proj" || infos[1].DIn != 172 {
		t.Fatalf("layers %+v", infos)
	}
	l, err := src.Load("layers.1.down_proj")
	if err != nil {
		t.Fatal(err)
	}
	if l.Stats.N != 4*64 || l.Stats.H == nil || len(l.Stats.Hdiag) != 172 {
		t.Errorf("stats: n %d, H %v, hdiag %d", l.Stats.N, l.Stats.H != nil, len(l.Stats.Hdiag))
	}
	store, _, err := cells.Open(filepath.Join(dir, "cells.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var log strings.Builder
	n, err := RunModelCells(context.Background(), c, src, map[string]bool{}, store, &log)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d model cells, want 3 (dense, magnitude, armor)\n%s", n, log.String())
	}
	cs, _, err := cells.Read(filepath.Join(dir, "cells.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	for _, cl := range cs {
		done[cl.Key] = true
		if cl.Kind != "model" || len(cl.Perplexity) != 2 {
			t.Errorf("%s: kind %s perplexity %v", cl.Method, cl.Kind, cl.Perplexity)
		}
		if _, ok := cl.Perplexity["tinystories"]; !ok {
			t.Errorf("%s: the calibration corpus is not evaluated on its second half: %v", cl.Method, cl.Perplexity)
		}
		want := map[string]float64{"dense": 1, "magnitude": 0.564, "armor": 0.741}[cl.Method]
		if got := float64(cl.ParamsRelative); got < want-0.001 || got > want+0.001 {
			t.Errorf("%s: params relative %g, want %g", cl.Method, got, want)
		}
		if wantProto := map[string]string{"dense": "", "magnitude": "sequential", "armor": "dense"}[cl.Method]; cl.Protocol != wantProto {
			t.Errorf("%s: protocol %q, want %q", cl.Method, cl.Protocol, wantProto)
		}
		for corpus, w := range cl.Windows {
			if w < 1 || cl.EvalWindow != 256 {
				t.Errorf("%s: %d windows of %d tokens on %s", cl.Method, w, cl.EvalWindow, corpus)
			}
		}
		if len(cl.Windows) != 2 || cl.ParamsDense == 0 || cl.ParamsStored == 0 {
			t.Errorf("%s: windows %v, params %d of %d", cl.Method, cl.Windows, cl.ParamsStored, cl.ParamsDense)
		}
		if got := float64(cl.ParamsStored) / float64(cl.ParamsDense); got != float64(cl.ParamsRelative) {
			t.Errorf("%s: params %d/%d = %g, relative %g", cl.Method, cl.ParamsStored, cl.ParamsDense, got, float64(cl.ParamsRelative))
		}
		// float32 values plus 2 index bits per kept weight: between 4 and
		// 4.25 bytes per stored parameter.
		if b := float64(cl.StoredBytes) / float64(cl.ParamsStored); b < 4 || b > 4.25 || (cl.Method == "dense" && b != 4) {
			t.Errorf("%s: %d bytes for %d parameters", cl.Method, cl.StoredBytes, cl.ParamsStored)
		}
	}
	if n, err := RunModelCells(context.Background(), c, src, done, store, nil); n != 0 || err != nil {
		t.Errorf("second run computed %d cells (err %v), want 0", n, err)
	}
}

// TestDataRootKey opens the model through source.model.data_root: the config
// names files relative to the mirror, which exist nowhere else, and
// $ARMOR_DATA is unset.
func TestDataRootKey(t *testing.T) {
	data := filepath.Dir(shared.Path(t, "data", "README.md"))
	dir := t.TempDir()
	t.Setenv("ARMOR_DATA", "")
	yaml := `experiment: dr
output_dir: ` + dir + `
source:
  model:
    checkpoint: models/stories260K/stories260K.bin
    tokenizer: models/stories260K/tok512.bin
    data_root: ` + data + `
    layers: [0]
    projections: [o_proj]
calibration:
  corpus: text/tinystories/tinystories_val.txt
  sequences: 2
  length: 32
methods: [nowag]
`
	c, err := config.Parse(filepath.Join(dir, "dr.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	if src.Kind() != "model" {
		t.Fatalf("source kind %q (note %q): data_root was not used", src.Kind(), src.Note())
	}
	if _, err := src.Load("layers.0.o_proj"); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(yaml, "data_root: "+data, "data_root: "+filepath.Join(dir, "nope"), 1)
	if _, err := config.Parse(filepath.Join(dir, "bad.yaml"), []byte(bad)); err == nil || !strings.Contains(err.Error(), "source.model.data_root") {
		t.Fatalf("a missing data_root must be a config error naming the key, got %v", err)
	}
}
