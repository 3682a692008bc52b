package cells

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// The on-disk form of a cell is one flat JSON object (docs/results-schema.md
// lists every key with its unit): every key is written on every line, a
// number that does not apply to the cell's kind is null and a string that
// does not apply is "". Model cells add one pair of keys per evaluated
// corpus: PerplexityPrefix+corpus and WindowsPrefix+corpus.
//
// Files written before the flat form (settings nested under "params", a
// "perplexity" object) still read.

// Key prefixes of the per-corpus columns of model cells.
const (
	PerplexityPrefix = "ppl_"
	WindowsPrefix    = "eval_windows_"
)

// ColumnName turns a corpus label into the suffix of its column names:
// lower case, runs of characters other than letters, digits, '-' and '_'
// become one '_', trimmed at both ends.
func ColumnName(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '_' {
			b.WriteRune(r)
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.Trim(b.String(), "_")
}

// flatCell is the JSON form of a Cell. Pointers are the numbers that are
// null when they do not apply.
type flatCell struct {
	Key        string `json:"key"`
	Kind       string `json:"kind"`
	Experiment string `json:"experiment"`
	Version    string `json:"version"`
	Source     string `json:"source"`
	SourceKind string `json:"source_kind"`
	Note       string `json:"note"`
	Layer      string `json:"layer"`
	LayerID    string `json:"layer_id"`
	LayerOrder int    `json:"layer_order"`
	DOut       *int   `json:"d_out"`
	DIn        *int   `json:"d_in"`
	Method     string `json:"method"`
	Pattern    string `json:"pattern"`
	Protocol   string `json:"protocol"`

	BlockSize     int     `json:"block_size"`
	Iters         int     `json:"iters"`
	Seed          uint64  `json:"seed"`
	LR            float64 `json:"lr"`
	Select        string  `json:"select"`
	Continuous    string  `json:"continuous"`
	Patience      int     `json:"patience"`
	GroupsPerTile int     `json:"groups_per_tile"`
	Precision     string  `json:"precision"`
	LazyBlock     int     `json:"lazy_block"`
	Damp          float64 `json:"damp"`
	PrunedLayers  string  `json:"pruned_layers"`

	ProxyLoss        Float `json:"proxy_loss"`
	OutputError      Float `json:"output_error"`
	NonzeroFraction  Float `json:"nonzero_fraction"`
	OverheadFraction Float `json:"overhead_fraction"`
	Iterations       int   `json:"iterations"`
	StoppedEarly     bool  `json:"stopped_early"`

	ParamsStored   *int64 `json:"params_stored"`
	ParamsDense    *int64 `json:"params_dense"`
	ParamsRelative Float  `json:"params_relative"`
	StoredBytes    *int64 `json:"stored_bytes"`
	EvalWindow     *int   `json:"eval_window"`
	MaxWindows     *int   `json:"max_windows"`

	Seconds      float64   `json:"seconds"`
	History      []float64 `json:"history"`
	HistoryIters []int     `json:"history_iters"`
}

// legacyCell is the nested form written before the flat one.
type legacyCell struct {
	Key              string             `json:"key"`
	Kind             string             `json:"kind"`
	Experiment       string             `json:"experiment"`
	Source           string             `json:"source"`
	SourceKind       string             `json:"source_kind"`
	Note             string             `json:"note"`
	Layer            string             `json:"layer"`
	LayerID          string             `json:"layer_id"`
	LayerOrder       int                `json:"layer_order"`
	DOut             int                `json:"d_out"`
	DIn              int                `json:"d_in"`
	Method           string             `json:"method"`
	Pattern          string             `json:"pattern"`
	Params           Params             `json:"params"`
	ProxyLoss        Float              `json:"proxy_loss"`
	OutputError      Float              `json:"output_error"`
	NonzeroFraction  Float              `json:"nonzero_fraction"`
	OverheadFraction Float              `json:"overhead_fraction"`
	Iterations       int                `json:"iterations"`
	StoppedEarly     bool               `json:"stopped_early"`
	History          []float64          `json:"history"`
	HistoryIters     []int              `json:"history_iters"`
	Perplexity       map[string]float64 `json:"perplexity"`
	ParamsRelative   Float              `json:"params_relative"`
	Seconds          float64            `json:"seconds"`
	Version          string             `json:"version"`
}

func ptrIf[T comparable](v T, ok bool) *T {
	if !ok {
		return nil
	}
	return &v
}

// MarshalJSON writes the flat form.
func (c Cell) MarshalJSON() ([]byte, error) {
	model := c.Kind == "model"
	layer := !model
	f := flatCell{
		Key: c.Key, Kind: c.Kind, Experiment: c.Experiment, Version: c.Version,
		Source: c.Source, SourceKind: c.SourceKind, Note: c.Note,
		Layer: c.Layer, LayerID: c.LayerID, LayerOrder: c.LayerOrder,
		DOut: ptrIf(c.DOut, layer), DIn: ptrIf(c.DIn, layer),
		Method: c.Method, Pattern: c.Pattern, Protocol: c.Protocol,
		BlockSize: c.Params.BlockSize, Iters: c.Params.Iters, Seed: c.Params.Seed, LR: c.Params.LR,
		Select: c.Params.Select, Continuous: c.Params.Continuous, Patience: c.Params.Patience,
		GroupsPerTile: c.Params.GroupsPerTile, Precision: c.Params.Precision,
		LazyBlock: c.Params.LazyBlock, Damp: c.Params.Damp, PrunedLayers: c.Params.Layers,
		ProxyLoss: c.ProxyLoss, OutputError: c.OutputError,
		NonzeroFraction: c.NonzeroFraction, OverheadFraction: c.OverheadFraction,
		Iterations: c.Iterations, StoppedEarly: c.StoppedEarly,
		ParamsStored: ptrIf(c.ParamsStored, c.ParamsStored > 0), ParamsDense: ptrIf(c.ParamsDense, c.ParamsDense > 0),
		ParamsRelative: c.ParamsRelative, StoredBytes: ptrIf(c.StoredBytes, c.StoredBytes > 0),
		EvalWindow: ptrIf(c.EvalWindow, model), MaxWindows: ptrIf(c.MaxWindows, model),
		Seconds: c.Seconds, History: c.History, HistoryIters: c.HistoryIters,
	}
	if !model {
		f.ParamsRelative = Float(math.NaN())
	}
	if f.History == nil {
		f.History = []float64{}
	}
	if f.HistoryIters == nil {
		f.HistoryIters = []int{}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	if len(c.Perplexity) == 0 && len(c.Windows) == 0 {
		return b, nil
	}
	// Per-corpus columns, sorted, appended before the closing brace.
	names := map[string]bool{}
	for k := range c.Perplexity {
		names[k] = true
	}
	for k := range c.Windows {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		if k == "" || ColumnName(k) != k {
			return nil, fmt.Errorf("cell %s: corpus name %q is not a column name (want letters, digits, _ or -)", c.Key, k)
		}
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range sorted {
		ppl, ok := c.Perplexity[k]
		v := Float(math.NaN())
		if ok {
			v = Float(ppl)
		}
		pb, _ := json.Marshal(v)
		fmt.Fprintf(&buf, ",%q:%s", PerplexityPrefix+k, pb)
		if w, ok := c.Windows[k]; ok {
			fmt.Fprintf(&buf, ",%q:%d", WindowsPrefix+k, w)
		} else {
			fmt.Fprintf(&buf, ",%q:null", WindowsPrefix+k)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads the flat form, or the older nested one.
func (c *Cell) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if _, nested := raw["params"]; nested {
		var l legacyCell
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*c = Cell{Key: l.Key, Kind: l.Kind, Experiment: l.Experiment, Source: l.Source, SourceKind: l.SourceKind,
			Note: l.Note, Layer: l.Layer, LayerID: l.LayerID, LayerOrder: l.LayerOrder, DOut: l.DOut, DIn: l.DIn,
			Method: l.Method, Pattern: l.Pattern, Params: l.Params, ProxyLoss: l.ProxyLoss, OutputError: l.OutputError,
			NonzeroFraction: l.NonzeroFraction, OverheadFraction: l.OverheadFraction, Iterations: l.Iterations,
			StoppedEarly: l.StoppedEarly, History: l.History, HistoryIters: l.HistoryIters, Perplexity: l.Perplexity,
			ParamsRelative: l.ParamsRelative, Seconds: l.Seconds, Version: l.Version}
		return nil
	}
	var f flatCell
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	deref := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	deref64 := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	*c = Cell{Key: f.Key, Kind: f.Kind, Experiment: f.Experiment, Version: f.Version,
		Source: f.Source, SourceKind: f.SourceKind, Note: f.Note,
		Layer: f.Layer, LayerID: f.LayerID, LayerOrder: f.LayerOrder, DOut: deref(f.DOut), DIn: deref(f.DIn),
		Method: f.Method, Pattern: f.Pattern, Protocol: f.Protocol,
		Params: Params{BlockSize: f.BlockSize, Iters: f.Iters, Seed: f.Seed, LR: f.LR, Select: f.Select,
			Continuous: f.Continuous, Patience: f.Patience, GroupsPerTile: f.GroupsPerTile, Precision: f.Precision,
			LazyBlock: f.LazyBlock, Damp: f.Damp, Layers: f.PrunedLayers},
		ProxyLoss: f.ProxyLoss, OutputError: f.OutputError, NonzeroFraction: f.NonzeroFraction,
		OverheadFraction: f.OverheadFraction, Iterations: f.Iterations, StoppedEarly: f.StoppedEarly,
		ParamsStored: deref64(f.ParamsStored), ParamsDense: deref64(f.ParamsDense), StoredBytes: deref64(f.StoredBytes),
		EvalWindow: deref(f.EvalWindow), MaxWindows: deref(f.MaxWindows),
		Seconds: f.Seconds, History: f.History, HistoryIters: f.HistoryIters}
	if c.Kind == "model" {
		c.ParamsRelative = f.ParamsRelative
	}
	if len(c.History) == 0 {
		c.History, c.HistoryIters = nil, nil
	}
	for k, v := range raw {
		switch {
		case strings.HasPrefix(k, PerplexityPrefix):
			var x Float
			if err := json.Unmarshal(v, &x); err != nil {
				return fmt.Errorf("key %s: %w", k, err)
			}
			if c.Perplexity == nil {
				c.Perplexity = map[string]float64{}
			}
			c.Perplexity[strings.TrimPrefix(k, PerplexityPrefix)] = float64(x)
		case strings.HasPrefix(k, WindowsPrefix):
			if string(v) == "null" {
				continue
			}
			var n int
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("key %s: %w", k, err)
			}
			if c.Windows == nil {
				c.Windows = map[string]int{}
			}
			c.Windows[strings.TrimPrefix(k, WindowsPrefix)] = n
		}
	}
	return nil
}
