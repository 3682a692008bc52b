package cells

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"

	"github.com/prunebench/armor/internal/jsonfloat"
)

// StoredBytes is the size in bytes of a model stored with float32 values and
// N:M index metadata: 4 bytes per stored parameter plus ⌈log2 M⌉ bits per
// kept weight of the pruned layers (2 bits for 2:4), rounded up to a byte.
// kept is the number of non-zeros of the N:M weights (0 for a dense model).
func StoredBytes(storedParams, kept int64, m int) int64 {
	bits := int64(0)
	for 1<<bits < m {
		bits++
	}
	return 4*storedParams + (kept*bits+7)/8
}

// Cell is one finished unit of work: one method with one setting on one
// layer (Kind "layer"), or one whole pruned model evaluated for perplexity
// (Kind "model"). Its JSON form is flat (see MarshalJSON and
// docs/results-schema.md).
type Cell struct {
	Key        string
	Kind       string // "layer" or "model"
	Experiment string
	// Source describes where the layer came from (Source.Describe) and
	// SourceKind is "synthetic", "safetensors", "model" or "builtin".
	Source     string
	SourceKind string
	// Note is the source's warning, e.g. that a model source fell back to
	// the builtin layers.
	Note    string
	Layer   string
	LayerID string
	// LayerOrder is the layer's position in the source's listing; tables
	// list layers in this order. It is not part of the key.
	LayerOrder int
	DOut       int
	DIn        int
	Method     string
	Pattern    string
	Params     Params

	ProxyLoss        Float
	OutputError      Float
	NonzeroFraction  Float
	OverheadFraction Float
	Iterations       int
	StoppedEarly     bool
	// History is ARMOR's proxy loss by iteration, downsampled: the loss
	// after iteration HistoryIters[k] is History[k] (0 = start).
	History      []float64
	HistoryIters []int

	// Perplexity maps a corpus name to perplexity (Kind "model"), and
	// ParamsRelative is the deployed parameter count relative to dense.
	Perplexity     map[string]float64
	ParamsRelative Float
	// Model cells only: the calibration protocol ("dense", "sequential";
	// empty for the dense model), the perplexity window length in tokens,
	// the cap on windows per corpus (0: all) and the windows evaluated per
	// corpus.
	Protocol   string
	EvalWindow int
	MaxWindows int
	Windows    map[string]int
	// Model cells only: stored parameters (numbers) of the pruned and of the
	// dense model, and the bytes of a float32 deployment of the pruned one
	// (see StoredBytes). Zero when unknown (layer cells, older cells).
	ParamsStored int64
	ParamsDense  int64
	StoredBytes  int64

	// Seconds is the wall time of the method; it is not compared by Merge.
	Seconds float64
	// Version is the code version string the key was made with.
	Version string
}

// Params are the settings of a method that vary in a sweep. Methods that
// ignore a setting leave it at its zero value, so it is not part of their
// key either.
type Params struct {
	BlockSize  int     `json:"block_size,omitempty"`
	Iters      int     `json:"iters,omitempty"`
	Seed       uint64  `json:"seed,omitempty"`
	LR         float64 `json:"lr,omitempty"`
	Select     string  `json:"select,omitempty"`
	Continuous string  `json:"continuous,omitempty"`
	Patience   int     `json:"patience,omitempty"`
	// GroupsPerTile is ARMOR's groups per tile: 0 (omitted) stands for the
	// default 1, so keys made before the setting existed stay valid, and -1
	// for every group (the config's 0).
	GroupsPerTile int `json:"groups_per_tile,omitempty"`
	// Precision is ARMOR's or SparseGPT's storage type; empty stands for
	// float64, so keys made before the setting existed stay valid.
	Precision string  `json:"precision,omitempty"`
	LazyBlock int     `json:"lazy_block,omitempty"`
	Damp      float64 `json:"damp,omitempty"`
	// Layers describes what was pruned for a model cell (e.g. "all").
	Layers string `json:"layers,omitempty"`
}

// Float is a float64 that encodes NaN and ±Inf as JSON null.
type Float = jsonfloat.Float

// KeyInput is everything that determines a cell's numbers.
type KeyInput struct {
	Version string `json:"version"`
	Kind    string `json:"kind"`
	LayerID string `json:"layer_id"`
	Layer   string `json:"layer"`
	Method  string `json:"method"`
	Pattern string `json:"pattern"`
	Params  Params `json:"params"`
	Extra   string `json:"extra,omitempty"`
}

// Key hashes k: the first 16 bytes of the SHA-256 of its JSON, in hex.
func Key(k KeyInput) string {
	b, err := json.Marshal(k)
	if err != nil {
		panic(fmt.Sprintf("cells: KeyInput cannot fail to marshal: %v", err)) // fixed struct of plain fields
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// SameNumbers reports whether two cells with the same key agree on every
// number that is deterministic (everything but Seconds), and if not, which
// field differs.
func SameNumbers(a, b *Cell) (bool, string) {
	x, y := *a, *b
	x.Seconds, y.Seconds = 0, 0
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	if string(ja) == string(jb) {
		return true, ""
	}
	var ma, mb map[string]json.RawMessage
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	for k, v := range ma {
		if string(mb[k]) != string(v) {
			return false, k
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			return false, k
		}
	}
	return false, "?"
}

// Downsample keeps at most n points of a history h (n ≥ 2), always the
// first and the last, evenly spaced in iteration; it returns the values and
// their iteration indices.
func Downsample(h []float64, n int) ([]float64, []int) {
	if len(h) == 0 {
		return nil, nil
	}
	if n < 2 {
		n = 2
	}
	if len(h) <= n {
		idx := make([]int, len(h))
		for i := range idx {
			idx[i] = i
		}
		return append([]float64(nil), h...), idx
	}
	vals := make([]float64, 0, n)
	idx := make([]int, 0, n)
	last := len(h) - 1
	for k := 0; k < n; k++ {
		i := int(math.Round(float64(k) * float64(last) / float64(n-1)))
		if len(idx) > 0 && idx[len(idx)-1] == i {
			continue
		}
		vals = append(vals, h[i])
		idx = append(idx, i)
	}
	return vals, idx
}
