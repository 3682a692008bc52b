// Package cost supplies the cost columns of the sweep tables: the stored
// bytes of every layer deployment relative to dense (computed) and the
// batch-1 decode speedup over dense at the layer's shape (measured once per
// distinct shape, format and block size, and kept in a cost.json next to
// cells.jsonl so that re-rendering the tables does not re-time them).
//
// Timings are not deterministic; they never enter a cell or its key.
package cost

import (
	"cmp"
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

// ModelEntry is one whole-model decode measurement of cost.json.
type ModelEntry struct {
	// Model names the checkpoint and its shape (see ModelName).
	Model string `json:"model"`
	report.CostKey
	// DecodeSpeedup is the decode tokens/s of the format over dense's.
	DecodeSpeedup float64 `json:"decode_speedup"`
}

// File is the content of cost.json.
type File struct {
	Note    string       `json:"note"`
	Entries []Entry      `json:"entries"`
	Models  []ModelEntry `json:"models,omitempty"`
}

// Read returns the cost file at path; a missing file is an empty one.
func Read(path string) (*File, error) {
	var f File
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("cost: %s: not a cost file (delete it to re-measure): %w", path, err)
	}
	return &f, nil
}

const fileNote = "Batch-1 decode speedup over dense at each layer shape (entries) and of the whole model (models), measured on random weights of each structure (median of interleaved repetitions); timings vary run to run and with host load. Delete this file to re-measure."

// write writes f to path atomically, entries in a fixed order.
func write(path string, f *File) error {
	f.Note = fileNote
	slices.SortFunc(f.Entries, func(a, b Entry) int { return report.CompareCostKeys(a.CostKey, b.CostKey) })
	slices.SortFunc(f.Models, func(a, b ModelEntry) int {
		return cmp.Or(cmp.Compare(a.Model, b.Model), report.CompareCostKeys(a.CostKey, b.CostKey))
	})
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("cost: encoding %s: %w", path, err)
	}
	if err := cells.WriteFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("cost: %w", err)
	}
	return nil
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
	file := &File{}
	if measure {
		var err error
		if file, err = Read(path); err != nil {
			return nil, err
		}
		for _, e := range file.Entries {
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
	seen := map[report.CostKey]bool{}
	var es []Entry
	for _, k := range keys {
		seen[k] = true
		es = append(es, Entry{CostKey: k, BytesVsDense: out[k].BytesVsDense, DecodeSpeedup: out[k].DecodeSpeedup})
	}
	for _, e := range file.Entries { // keep what other configs of the directory measured
		if !seen[e.CostKey] {
			es = append(es, e)
		}
	}
	file.Entries = es
	if err := write(path, file); err != nil {
		return nil, err
	}
	return out, nil
}
