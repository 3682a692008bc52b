package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/infer"
)

// CostKey is one deployment whose cost the tables show: a layer shape
// d_out × d_in in format "dense", an N:M pattern or "armor" with ARMOR's
// block size (0 for the other formats).
type CostKey struct {
	Format string `json:"format"`
	DOut   int    `json:"d_out"`
	DIn    int    `json:"d_in"`
	Block  int    `json:"block_size,omitempty"`
}

func (k CostKey) String() string {
	return fmt.Sprintf("%s %d×%d b=%d", k.Format, k.DOut, k.DIn, k.Block)
}

// CostKeyOf returns the deployment format of a layer cell: dense for the
// dense method, "armor" with its block size for ARMOR with a 2:4 core, the
// cell's pattern for the other methods. False for model cells and ARMOR
// with another pattern (no operator stores those).
func CostKeyOf(c *cells.Cell) (CostKey, bool) {
	if c.Kind != "layer" {
		return CostKey{}, false
	}
	k := CostKey{DOut: c.DOut, DIn: c.DIn}
	switch {
	case c.Method == "dense":
		k.Format = "dense"
	case c.Method == "armor":
		if c.Pattern != "2:4" {
			return CostKey{}, false
		}
		k.Format, k.Block = "armor", c.Params.BlockSize
	case c.Pattern == "":
		return CostKey{}, false
	default:
		k.Format = c.Pattern
	}
	return k, true
}

// CostKeys lists the distinct cost keys of the layer cells in a fixed order
// (format, shape, block size).
func CostKeys(cs []*cells.Cell) []CostKey {
	seen := map[CostKey]bool{}
	var out []CostKey
	for _, c := range cs {
		if k, ok := CostKeyOf(c); ok && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	slices.SortFunc(out, CompareCostKeys)
	return out
}

// CompareCostKeys orders cost keys by format, shape and block size.
func CompareCostKeys(a, b CostKey) int {
	return cmp.Or(cmp.Compare(a.Format, b.Format), cmp.Compare(a.DOut, b.DOut), cmp.Compare(a.DIn, b.DIn), cmp.Compare(a.Block, b.Block))
}

// costOf returns the cost of cell c's deployment from costs: bytes
// relative to dense and decode speedup, NaN where unknown or not measured.
func costOf(costs map[CostKey]infer.Cost, c *cells.Cell) (bytesRel, speedup float64) {
	if c == nil {
		return math.NaN(), math.NaN()
	}
	k, ok := CostKeyOf(c)
	if !ok {
		return math.NaN(), math.NaN()
	}
	v, ok := costs[k]
	if !ok {
		return math.NaN(), math.NaN()
	}
	sp := v.DecodeSpeedup
	if sp == 0 {
		sp = math.NaN()
	}
	return v.BytesVsDense, sp
}

// costNote explains the cost rows and columns.
const costNote = "Bytes: stored bytes of a float32 deployment (kept values, 2-bit 2:4 indices, ARMOR's diagonal blocks) relative to the dense layer; " +
	"Speedup: measured batch-1 decode (matvec) time of the dense layer over this format's at the layer's shape on random weights of that shape, " +
	"median of interleaved repetitions on a shared host (not deterministic; kept in cost.json, — where no fast kernel exists or measurement is off)."

// ModelCostKey is the whole-model deployment format of a model cell: dense,
// the pattern of a pruning method, or ARMOR with its block size (shape 0).
func ModelCostKey(c *cells.Cell) (CostKey, bool) {
	if c.Kind != "model" {
		return CostKey{}, false
	}
	l := *c
	l.Kind = "layer"
	k, ok := CostKeyOf(&l)
	k.DOut, k.DIn = 0, 0
	return k, ok
}

// ModelCostKeys lists the distinct ModelCostKeys of the model cells in
// CompareCostKeys order.
func ModelCostKeys(cs []*cells.Cell) []CostKey {
	seen := map[CostKey]bool{}
	var out []CostKey
	for _, c := range cs {
		if k, ok := ModelCostKey(c); ok && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	slices.SortFunc(out, CompareCostKeys)
	return out
}

func decodeNote(speedups map[CostKey]float64) string {
	if speedups == nil {
		return ""
	}
	return "Decode: measured whole-model batch-1 decode tokens/s over dense's, the checkpoint's linears in the row's format with random values of that structure (speed does not depend on the values), on a shared host; not deterministic (cost.json). "
}
