package infer

import (
	"fmt"
	"sync"
	"time"

	"github.com/prunebench/armor/methods"
)

// Cost is what deploying one pruned layer costs relative to the dense
// float32 layer: the cost columns of the sweep tables.
type Cost struct {
	// BytesVsDense is the stored bytes (values, indices, ARMOR's blocks)
	// over 4·d_out·d_in.
	BytesVsDense float64 `json:"bytes_vs_dense"`
	// DecodeSpeedup is the measured batch-1 matvec time of dense over this
	// format's at the layer's shape (0 when not measured).
	DecodeSpeedup float64 `json:"decode_speedup,omitempty"`
}

// StoredBytes is the stored size of a d_out × d_in layer in format
// "dense", an N:M pattern such as "2:4", or "armor" (2:4 core, blocks of
// size block) with f32 values, as the operators of this package store it.
func StoredBytes(format string, out, in, block int) (int64, error) {
	if out <= 0 || in <= 0 {
		return 0, fmt.Errorf("stored bytes: shape %d×%d", out, in)
	}
	core := func(p methods.Pattern) (int64, error) {
		if p.Valid() != nil || in%p.M != 0 {
			return 0, fmt.Errorf("stored bytes: pattern %s on d_in %d", p, in)
		}
		c := Compressed{Out: out, In: in, Pattern: p}
		return int64(4*out*c.KeptPerRow() + out*c.MetaStride()), nil
	}
	blocks := func(d int) int64 {
		var n int64
		for _, s := range methods.BlockSizes(d, block) {
			n += int64(s * s)
		}
		return 4 * n
	}
	switch format {
	case "dense":
		return 4 * int64(out*in), nil
	case "armor":
		c, err := core(methods.Pattern24)
		return c + blocks(out) + blocks(in), err
	}
	p, err := methods.ParsePattern(format)
	if err != nil {
		return 0, fmt.Errorf("stored bytes: format %q: want dense, armor or N:M", format)
	}
	return core(p)
}

// speedups caches measured decode speedups by shape, format and block.
var speedups sync.Map

// LayerCost returns the cost of a d_out × d_in layer in format (see
// StoredBytes); with measure it also times batch-1 decode of dense and the
// format at that shape on random weights (reps interleaved repetitions of
// minTime each, the median ratio; cached per shape for the process).
func LayerCost(format string, out, in, block int, measure bool, reps int, minTime time.Duration) (Cost, error) {
	b, err := StoredBytes(format, out, in, block)
	if err != nil {
		return Cost{}, err
	}
	c := Cost{BytesVsDense: float64(b) / float64(4*out*in)}
	if !measure || format == "dense" {
		if format == "dense" {
			c.DecodeSpeedup = 1
		}
		return c, nil
	}
	if format != "2:4" && format != "armor" {
		return c, nil // other patterns have no fast kernel to measure
	}
	key := fmt.Sprint(format, out, in, block)
	if v, ok := speedups.Load(key); ok {
		c.DecodeSpeedup = v.(float64)
		return c, nil
	}
	d, sp, fa, err := Synthetic(out, in, block, F32, 1)
	if err != nil {
		return c, err
	}
	var op Operator = sp
	if format == "armor" {
		op = fa
	}
	ratios := make([]float64, 0, reps)
	for range max(1, reps) {
		td := TimeCalls(d, 1, 1, minTime)
		ratios = append(ratios, td/TimeCalls(op, 1, 1, minTime))
	}
	for i := 1; i < len(ratios); i++ {
		for j := i; j > 0 && ratios[j] < ratios[j-1]; j-- {
			ratios[j], ratios[j-1] = ratios[j-1], ratios[j]
		}
	}
	c.DecodeSpeedup = ratios[len(ratios)/2]
	speedups.Store(key, c.DecodeSpeedup)
	return c, nil
}
