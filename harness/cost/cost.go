// Package cost supplies the cost columns of the sweep tables: the stored
// bytes of every layer deployment relative to dense (computed) and the
// batch-1 decode speedup over dense at the layer's shape (measured once per
// distinct shape, format and block size, and kept in a cost.json next to
// cells.jsonl so that re-rendering the tables does not re-time them).
//
// Timings are not deterministic; they never enter a cell or its key.
package cost

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/report"
	"github.com/prunebench/armor/infer"
)

// FileName is the cost file's name in the experiment directory.
const FileName = "cost.json"

// Timing of one measurement: Reps interleaved dense/format repetitions of
// at least MinTime each, the median ratio (see infer.LayerCost).
const (
	Reps    = 5
	MinTime = 4 * time.Millisecond
)

// Entry is one line of cost.json.
type Entry struct {
	report.CostKey
	BytesVsDense float64 `json:"bytes_vs_dense"`
	// DecodeSpeedup is dense time over format time at batch 1; 0 (omitted)
	// when not measured (no fast kernel for the format).
	DecodeSpeedup float64 `json:"decode_speedup,omitempty"`
}

// File is the content of cost.json.
type File struct {
	Note    string  `json:"note"`
	Entries []Entry `json:"entries"`
}

// Read returns the entries of the cost file at path; a missing file is no
// entries.
func Read(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("cost: %s: not a cost file (delete it to re-measure): %w", path, err)
	}
	return f.Entries, nil
}

// Measure is the function that times one key (infer.LayerCost by default;
// tests replace it).
type Measure func(k report.CostKey) (infer.Cost, error)

// Timed measures k with infer.LayerCost at Reps × MinTime.
func Timed(k report.CostKey) (infer.Cost, error) {
	return infer.LayerCost(k.Format, k.DOut, k.DIn, k.Block, true, Reps, MinTime)
}

// For returns the cost of every key of the layer cells cs. Stored bytes are
// always computed; with measure, speedups come from the cost file at path
// when it has the key and from m otherwise, and the file is rewritten
// (atomically, keys in CostKeys order) when something new was measured.
// Without measure no speedup is shown and the file is left alone.
func For(cs []*cells.Cell, path string, measure bool, m Measure) (map[report.CostKey]infer.Cost, error) {
	keys := report.CostKeys(cs)
	out := make(map[report.CostKey]infer.Cost, len(keys))
	cached := map[report.CostKey]Entry{}
	if measure {
		es, err := Read(path)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			cached[e.CostKey] = e
		}
	}
	changed := false
	for _, k := range keys {
		b, err := infer.StoredBytes(k.Format, k.DOut, k.DIn, k.Block)
		if err != nil {
			return nil, fmt.Errorf("cost of %s: %w", k, err)
		}
		c := infer.Cost{BytesVsDense: float64(b) / float64(4*k.DOut*k.DIn)}
		if measure {
			if e, ok := cached[k]; ok {
				c.DecodeSpeedup = e.DecodeSpeedup
			} else {
				mc, err := m(k)
				if err != nil {
					return nil, fmt.Errorf("measuring %s: %w", k, err)
				}
				c.DecodeSpeedup = mc.DecodeSpeedup
				changed = true
			}
		}
		out[k] = c
	}
	if !changed {
		return out, nil
	}
	f := File{Note: "Batch-1 decode speedup over dense at each layer shape, measured on random weights (median of interleaved repetitions); timings vary run to run and with host load. Delete this file to re-measure."}
	seen := map[report.CostKey]bool{}
	for _, k := range keys {
		seen[k] = true
		f.Entries = append(f.Entries, Entry{CostKey: k, BytesVsDense: out[k].BytesVsDense, DecodeSpeedup: out[k].DecodeSpeedup})
	}
	for _, e := range cached { // keep what other configs of the directory measured
		if !seen[e.CostKey] {
			f.Entries = append(f.Entries, e)
		}
	}
	slices.SortFunc(f.Entries, func(a, b Entry) int { return report.CompareCostKeys(a.CostKey, b.CostKey) })
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cost: encoding %s: %w", path, err)
	}
	if err := cells.WriteFileAtomic(path, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	return out, nil
}
