package pipeline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// stagedCase is one method setting run both ways.
type stagedCase struct {
	method string
	proto  Protocol
	prec   methods.Precision
	full   bool
}

func (c stagedCase) String() string {
	return fmt.Sprintf("%s-%s-%s-fullH=%v", c.method, c.proto, c.prec, c.full)
}

func (c stagedCase) config() methods.Config {
	cfg := methods.DefaultConfig()
	cfg.ARMOR.Iters, cfg.ARMOR.BlockSize = 4, 8
	cfg.ARMOR.Precision, cfg.SparseGPT.Precision = c.prec, c.prec
	return cfg
}

func (c stagedCase) gram() methods.Precision {
	if c.method == "sparsegpt" && c.prec == methods.Float32 {
		return methods.Float32
	}
	return methods.Float64
}

// runStaged runs calibrate → n shards → assemble in temp directories and
// returns the assembled model and the parts directory.
func runStaged(t *testing.T, m *model.Model, id string, cal [][]int, c stagedCase, n int) (*Assembled, string) {
	t.Helper()
	root := t.TempDir()
	stats, parts := filepath.Join(root, "stats"), filepath.Join(root, "parts")
	set := CalibrationSettings{Protocol: c.proto, Corpus: "cal.txt", Tokenizer: "tok.bin", Windows: len(cal), Length: len(cal[0]), FullH: c.full, Gram: c.gram()}
	shards := func() {
		for i := 0; i < n; i++ {
			if _, err := PruneShard(m, id, stats, parts, ShardOptions{Method: c.method, Config: c.config(), Protocol: c.proto, Shard: i, Shards: n, Workers: 1 + i%2}); err != nil {
				t.Fatalf("%v shard %d/%d: %v", c, i, n, err)
			}
		}
	}
	if c.proto == ProtocolDense {
		if _, err := Calibrate(m, stats, CalibrateOptions{Model: "m", ModelID: id, Settings: set, Calibration: cal, Block: -1}); err != nil {
			t.Fatal(err)
		}
		shards()
	} else {
		for k := 0; k < m.Config().NLayers; k++ {
			if _, err := Calibrate(m, stats, CalibrateOptions{Model: "m", ModelID: id, Settings: set, Calibration: cal, Block: k, Parts: parts}); err != nil {
				t.Fatalf("block %d: %v", k, err)
			}
			shards()
		}
	}
	a, err := Assemble(m, id, parts)
	if err != nil {
		t.Fatal(err)
	}
	return a, parts
}

// samePruned fails unless a and b hold bitwise the same weights, factors,
// layer reports (but for timings) and parameter counts.
func samePruned(t *testing.T, what string, a, b *Pruned) {
	t.Helper()
	wa, wb := a.Model.Weights(), b.Model.Weights()
	for _, name := range wa.LinearNames() {
		la, _ := wa.Linear(name)
		lb, _ := wb.Linear(name)
		if la.IsHalf() != lb.IsHalf() || la.HalfKind != lb.HalfKind || string(la.Half) != string(lb.Half) || len(la.W) != len(lb.W) {
			t.Fatalf("%s: %s: storage or half-precision bytes differ", what, name)
		}
		for i := range la.W {
			if math.Float32bits(la.W[i]) != math.Float32bits(lb.W[i]) {
				t.Fatalf("%s: %s weight %d: %g vs %g", what, name, i, la.W[i], lb.W[i])
			}
		}
	}
	if !reflect.DeepEqual(a.Factors, b.Factors) {
		t.Fatalf("%s: factorized layers differ", what)
	}
	if len(a.Layers) != len(b.Layers) {
		t.Fatalf("%s: %d vs %d layer reports", what, len(a.Layers), len(b.Layers))
	}
	for k := range a.Layers {
		ra, rb := a.Layers[k], b.Layers[k]
		ra.Seconds, rb.Seconds = 0, 0
		if fmt.Sprint(ra) != fmt.Sprint(rb) { // NaN output errors compare equal as text
			t.Fatalf("%s: layer report %d: %+v vs %+v", what, k, ra, rb)
		}
	}
	if a.Params != b.Params || a.CalibrationRows != b.CalibrationRows || a.Method != b.Method || a.Protocol != b.Protocol || a.Pattern != b.Pattern {
		t.Fatalf("%s: params/rows/method differ: %+v %d vs %+v %d", what, a.Params, a.CalibrationRows, b.Params, b.CalibrationRows)
	}
}

// TestStagedEqualsPrune: calibrate → n shards → assemble gives bitwise
// Prune's model, for n = 1, 2, 3, on stories260K and on a small GQA
// checkpoint in bf16 Hugging Face layout, under both protocols.
func TestStagedEqualsPrune(t *testing.T) {
	sm, _, texts := stories(t)
	cal, err := datasets.CalibrationWindows(texts.Calibration, 6, 64)
	if err != nil {
		t.Fatal(err)
	}
	hfDir := synthHF(t)
	hm, _, err := LoadModel(hfDir)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := hm.Weights().Linear("layers.0.q_proj"); !l.IsHalf() {
		t.Fatal("the bf16 checkpoint loaded as float32: the test would not cover half-precision parts")
	}
	hcal := make([][]int, 5)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range hcal {
		hcal[i] = make([]int, 24)
		for j := range hcal[i] {
			hcal[i][j] = rng.IntN(hm.Config().VocabSize)
		}
	}
	models := []struct {
		name string
		m    *model.Model
		cal  [][]int
	}{{"stories260K", sm, cal}, {"synthetic-hf-bf16", hm, hcal}}
	cases := []stagedCase{
		{"wanda", ProtocolDense, methods.Float64, true},
		{"armor", ProtocolDense, methods.Float32, false},
		{"sparsegpt", ProtocolDense, methods.Float32, true},
		{"wanda", ProtocolSequential, methods.Float64, false},
		{"sparsegpt", ProtocolSequential, methods.Float64, true},
	}
	if testing.Short() {
		cases = []stagedCase{cases[1], cases[2], cases[3]}
	}
	for _, md := range models {
		for _, c := range cases {
			ref, err := Prune(md.m, Options{Method: c.method, Config: c.config(), Protocol: c.proto, Calibration: md.cal, Hessian: c.full})
			if err != nil {
				t.Fatal(err)
			}
			for n := 1; n <= 3; n++ {
				a, _ := runStaged(t, md.m, "id-"+md.name, md.cal, c, n)
				samePruned(t, fmt.Sprintf("%s %v n=%d", md.name, c, n), ref, a.Pruned)
			}
		}
	}
}

// synthHF writes a small random Llama checkpoint with grouped-query
// attention in Hugging Face layout, bf16, in two shards, and returns its
// directory.
func synthHF(t *testing.T) string {
	t.Helper()
	cfg := model.Config{Dim: 64, HiddenDim: 176, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 96, SeqLen: 64, NormEps: 1e-5, RopeTheta: 10000}
	w, err := model.NewWeights(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(v []float32, scale float64) {
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
	}
	fill(w.TokenEmbedding, 1)
	fill(w.Classifier.W, 0.1)
	fill(w.FinalNorm, 0.1)
	for i := range w.FinalNorm {
		w.FinalNorm[i] += 1
	}
	for _, name := range w.LinearNames() {
		l, _ := w.Linear(name)
		fill(l.W, 1/math.Sqrt(float64(l.In)))
	}
	for i := range w.Layers {
		for _, v := range [][]float32{w.Layers[i].AttnNorm, w.Layers[i].FFNNorm} {
			fill(v, 0.1)
			for j := range v {
				v[j] += 1
			}
		}
	}
	dir := filepath.Join(t.TempDir(), "synth")
	if err := datasets.SaveHF(dir, cfg, w, datasets.HFSaveOptions{DType: datasets.BF16, ShardBytes: 60_000}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStagedResume: a shard skips the layers whose parts are complete,
// prunes a deleted part again and replaces a truncated one, and the result
// is still Prune's.
func TestStagedResume(t *testing.T) {
	m, _, texts := stories(t)
	cal, err := datasets.CalibrationWindows(texts.Calibration, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	c := stagedCase{"wanda", ProtocolDense, methods.Float64, false}
	ref, err := Prune(m, Options{Method: c.method, Config: c.config(), Protocol: c.proto, Calibration: cal})
	if err != nil {
		t.Fatal(err)
	}
	_, parts := runStaged(t, m, "id", cal, c, 2)
	stats := filepath.Join(filepath.Dir(parts), "stats")
	opt := ShardOptions{Method: c.method, Config: c.config(), Protocol: c.proto, Shard: 1, Shards: 2}
	mine := LayerShards(m.Weights(), []int{0, 1, 2, 3, 4}, 2)[1]
	gone, torn := mine[0], mine[len(mine)-1]
	if err := os.Remove(PartFile(parts, gone)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(PartFile(parts, torn))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(PartFile(parts, torn), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	// Assembling now names the missing layer and the torn file.
	if _, err := Assemble(m, "id", parts); err == nil || !strings.Contains(err.Error(), gone) || !strings.Contains(err.Error(), PartFile(parts, torn)) {
		t.Fatalf("assemble with %s missing: %v", gone, err)
	}
	res, err := PruneShard(m, "id", stats, parts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Pruned, []string{gone, torn}) || !reflect.DeepEqual(res.Redone, []string{torn}) || len(res.Skipped) != len(mine)-2 {
		t.Fatalf("resume: pruned %v, redone %v, skipped %d of %d", res.Pruned, res.Redone, len(res.Skipped), len(mine))
	}
	a, err := Assemble(m, "id", parts)
	if err != nil {
		t.Fatal(err)
	}
	samePruned(t, "resumed", ref, a.Pruned)
	// Once complete, a rerun prunes nothing.
	if res, err = PruneShard(m, "id", stats, parts, opt); err != nil || len(res.Pruned) != 0 {
		t.Fatalf("rerun of a finished shard pruned %v (err %v)", res.Pruned, err)
	}
}

// TestLayerShards: every layer is in exactly one shard, for any n; more
// shards than layers leave some empty.
func TestLayerShards(t *testing.T) {
	m, _, _ := stories(t)
	blocks := []int{0, 1, 2, 3, 4}
	for _, n := range []int{1, 2, 3, 7, 40} {
		seen := map[string]int{}
		for _, names := range LayerShards(m.Weights(), blocks, n) {
			for _, name := range names {
				seen[name]++
			}
		}
		if len(seen) != 35 {
			t.Fatalf("n=%d: %d layers assigned, want 35", n, len(seen))
		}
		for name, k := range seen {
			if k != 1 {
				t.Fatalf("n=%d: %s in %d shards", n, name, k)
			}
		}
	}
}

// TestStagedBadInput: statistics of another model or other settings, a
// shard spec out of range, a truncated statistics file, a missing or
// foreign part: each a clear error naming the file, and nothing written.
func TestStagedBadInput(t *testing.T) {
	m, _, texts := stories(t)
	cal, err := datasets.CalibrationWindows(texts.Calibration, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	c := stagedCase{"wanda", ProtocolDense, methods.Float64, false}
	_, parts := runStaged(t, m, "id", cal, c, 1)
	stats := filepath.Join(filepath.Dir(parts), "stats")
	opt := ShardOptions{Method: c.method, Config: c.config(), Protocol: c.proto, Shard: 0, Shards: 1}
	// Statistics of another calibration in the same directory.
	other := t.TempDir()
	cal2, _ := datasets.CalibrationWindows(texts.Calibration, 5, 64)
	set := CalibrationSettings{Protocol: ProtocolDense, Windows: 5, Length: 64}
	if _, err := Calibrate(m, other, CalibrateOptions{ModelID: "id", Settings: set, Calibration: cal2, Block: -1}); err != nil {
		t.Fatal(err)
	}
	mixed := t.TempDir()
	for k, src := range []string{stats, other} {
		b, _ := os.ReadFile(StatsFile(src, k))
		os.WriteFile(StatsFile(mixed, k), b, 0o644)
	}
	torn := t.TempDir()
	b, _ := os.ReadFile(StatsFile(stats, 0))
	os.WriteFile(StatsFile(torn, 0), b[:len(b)-9], 0o644)

	sparse := opt
	sparse.Method = "sparsegpt"
	seq := opt
	seq.Protocol = ""
	armor := opt
	armor.Method = "armor"
	for _, tc := range []struct {
		name, model, stats string
		opt                ShardOptions
		want               []string
	}{
		{"another model", "other-id", stats, opt, []string{StatsFile(stats, 0), "another model"}},
		{"mixed settings", "id", mixed, opt, []string{StatsFile(mixed, 1), "windows 5 vs 4"}},
		{"truncated stats", "id", torn, opt, []string{StatsFile(torn, 0), "truncated"}},
		{"no stats", "id", t.TempDir(), opt, []string{"no block-*.safetensors"}},
		{"sparsegpt without H", "id", stats, sparse, []string{StatsFile(stats, 0), "without the full H"}},
		{"protocol", "id", stats, seq, []string{StatsFile(stats, 0), "dense protocol", "sequential"}},
		{"shard 3/2", "id", stats, ShardOptions{Method: "wanda", Shard: 3, Shards: 2}, []string{"shard 3 of 2"}},
		{"shard 0/0", "id", stats, ShardOptions{Method: "wanda", Shard: 0, Shards: 0}, []string{"shard 0 of 0"}},
		{"shard -1/2", "id", stats, ShardOptions{Method: "wanda", Shard: -1, Shards: 2}, []string{"shard -1 of 2"}},
		{"parts of another method", "id", stats, armor, []string{PartFile(parts, "layers.0.q_proj"), "other settings", "method wanda vs armor"}},
	} {
		out := parts
		if tc.name != "parts of another method" {
			out = filepath.Join(t.TempDir(), "parts")
		}
		before := listFiles(t, out)
		_, err := PruneShard(m, tc.model, tc.stats, out, tc.opt)
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
		if after := listFiles(t, out); !reflect.DeepEqual(before, after) {
			t.Errorf("%s: files changed: %v -> %v", tc.name, before, after)
		}
	}
	// Assemble refuses parts of another model.
	if _, err := Assemble(m, "other-id", parts); err == nil || !strings.Contains(err.Error(), "another model") || !strings.Contains(err.Error(), parts) {
		t.Fatalf("assemble with another model: %v", err)
	}
	// A sequential block needs the parts of the blocks before it.
	seqSet := CalibrationSettings{Protocol: ProtocolSequential, Windows: 4, Length: 64}
	empty := filepath.Join(t.TempDir(), "parts")
	_, err = Calibrate(m, t.TempDir(), CalibrateOptions{ModelID: "id", Settings: seqSet, Calibration: cal, Block: 2, Parts: empty})
	if err == nil || !strings.Contains(err.Error(), "layers.0.q_proj") || !strings.Contains(err.Error(), empty) {
		t.Fatalf("sequential block 2 without parts: %v", err)
	}
	if _, err = Calibrate(m, t.TempDir(), CalibrateOptions{ModelID: "id", Settings: seqSet, Calibration: cal, Block: 2, Parts: parts}); err == nil || !strings.Contains(err.Error(), "other calibration settings") {
		t.Fatalf("sequential block 2 on dense parts: %v", err)
	}
}

// listFiles lists the files under dir (none when it does not exist).
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestCalibrateSkipsComplete: calibrating again into a directory that
// holds the same statistics rewrites nothing; other settings recompute.
func TestCalibrateSkipsComplete(t *testing.T) {
	m, _, texts := stories(t)
	cal, err := datasets.CalibrationWindows(texts.Calibration, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opt := CalibrateOptions{ModelID: "id", Settings: CalibrationSettings{Protocol: ProtocolDense, Windows: 4, Length: 64}, Calibration: cal, Block: -1}
	if _, err := Calibrate(m, dir, opt); err != nil {
		t.Fatal(err)
	}
	stamp := func() map[string]string {
		out := map[string]string{}
		for _, p := range listFiles(t, dir) {
			st, _ := os.Stat(p)
			out[p] = st.ModTime().String()
		}
		return out
	}
	before := stamp()
	if _, err := Calibrate(m, dir, opt); err != nil {
		t.Fatal(err)
	}
	if after := stamp(); !reflect.DeepEqual(before, after) {
		t.Fatal("a complete calibration was written again")
	}
	opt.Settings.FullH = true
	if _, err := Calibrate(m, dir, opt); err != nil {
		t.Fatal(err)
	}
	if after := stamp(); reflect.DeepEqual(before, after) {
		t.Fatal("a calibration with other settings was skipped")
	}
}
