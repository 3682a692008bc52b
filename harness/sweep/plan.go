package sweep

import (
	"fmt"
	"slices"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/source"
	"github.com/prunebench/armor/methods"
)

// Version is the code-relevant version string in every cell key: the
// harness's own version and methods.Version. Bump the harness part when a
// change to the harness changes any number a cell holds (methods bumps its
// own); old cells then no longer match and are recomputed.
const Version = "prunebench/1+" + methods.Version

// Job is one cell to compute.
type Job struct {
	// Index is the job's position in the full plan; shard i of n runs the
	// jobs with Index mod n = i.
	Index int
	Layer source.Info
	// LayerOrder is the layer's position in the plan's layer list.
	LayerOrder int
	Method     string
	Pattern    methods.Pattern
	Params     cells.Params
	Key        string
}

// Label is a short human description, e.g. "armor layers.0.q_proj b=32 it=100".
func (j Job) Label() string {
	s := fmt.Sprintf("%s %s", j.Method, j.Layer.Name)
	if j.Method == "armor" {
		p := j.Params
		s += fmt.Sprintf(" b=%d it=%d seed=%d", p.BlockSize, p.Iters, p.Seed)
	}
	return s
}

// cost is a rough relative run time, for the ETA.
func (j Job) cost() float64 {
	size := float64(j.Layer.DOut * j.Layer.DIn)
	switch j.Method {
	case "armor":
		// An iteration costs about d_out·d_in·(c + b) (the tile products).
		b := float64(min(j.Params.BlockSize, max(j.Layer.DOut, j.Layer.DIn)))
		return size * (1 + float64(j.Params.Iters)*(0.5+b/64))
	case "sparsegpt":
		return size * (1 + float64(j.Layer.DIn)/32)
	}
	return size
}

// Plan expands c over the given layers (already selected) into jobs, in a
// fixed order: layer, pattern, method, then the Cartesian product of the
// method's knobs (config.Knobs, the first knob varying slowest).
// Combinations the method's Validate rejects are left out (config
// validation makes sure every listed value is in some accepted one). It
// also returns notes on skipped cells (an ARMOR block size larger than both
// of a layer's dimensions is the same as the largest one that fits, so it is
// not repeated).
func Plan(c *config.Config, layers []source.Info) ([]Job, []string, error) {
	var jobs []Job
	var notes []string
	for li, l := range layers {
		for _, p := range c.Patterns() {
			if err := p.Check(l.DIn); err != nil {
				return nil, nil, fmt.Errorf("layer %s (%d×%d): %w", l.Name, l.DOut, l.DIn, err)
			}
			for _, m := range c.Methods {
				mk := config.Knobs[m]
				lists := mk.All(c)
				for k, kn := range mk.Knobs {
					kept := lists[k][:0]
					for _, i := range lists[k] {
						if why := kn.Redundant(c, i, l.DOut, l.DIn); why != "" {
							notes = append(notes, fmt.Sprintf("%s (%d×%d): %s; skipped", l.Name, l.DOut, l.DIn, why))
							continue
						}
						kept = append(kept, i)
					}
					lists[k] = kept
				}
				config.Product(lists, func(idx []int) {
					var ps cells.Params
					if mk.Validate != nil {
						mc := mk.Configure(c, p, idx)
						if mk.Validate(mc) != nil {
							return
						}
						ps = mk.ToKey(mc)
					}
					j := Job{Index: len(jobs), Layer: l, LayerOrder: li, Method: m, Pattern: p, Params: ps}
					j.Key = cells.Key(cells.KeyInput{Version: Version, Kind: "layer", LayerID: l.Identity, Layer: l.Name,
						Method: m, Pattern: p.String(), Params: ps})
					jobs = append(jobs, j)
				})
			}
		}
	}
	if len(jobs) == 0 {
		return nil, notes, fmt.Errorf("the sweep is empty: no layer × method combination")
	}
	return jobs, notes, nil
}

// SparseGPTParams returns the cell parameters of SparseGPT's settings in c
// (the same for every SparseGPT cell of a sweep); float64 leaves Precision
// empty, so keys made before the setting existed stay valid.
func SparseGPTParams(c *config.Config) cells.Params {
	mk := config.Knobs["sparsegpt"]
	return mk.ToKey(mk.Configure(c, methods.Pattern24, make([]int, len(mk.Knobs))))
}

// MethodConfig returns the methods.Config of job j: the method's defaults
// with the settings of j's key parameters; threads is ARMOR's kernel thread
// count.
func MethodConfig(j Job, threads int) methods.Config {
	cfg := methods.DefaultConfig()
	cfg.Pattern = j.Pattern
	if mk, ok := config.Knobs[j.Method]; ok {
		mk.FromKey(j.Params, &cfg)
	}
	cfg.ARMOR.Threads = threads
	return cfg
}

// Reference returns the ARMOR setting that represents ARMOR where a table
// or plot shows a single one: the first value of every ARMOR knob, except
// the block size (outputs.report_block_size when set) and the iteration
// budget (outputs.report_iters when set, else the largest). When ARMOR's
// Validate rejects that combination, knobs are put back to ARMOR's defaults
// from the last one on until it accepts it (float32 with a first
// continuous rule other than adam reports float64).
func Reference(c *config.Config) cells.Params {
	mk := config.Knobs["armor"]
	idx := make([]int, len(mk.Knobs))
	for k, kn := range mk.Knobs {
		if kn.Len(c) == 0 {
			return cells.Params{}
		}
		switch kn.Key {
		case "armor.block_size":
			idx[k] = indexOf(c.ARMOR.BlockSize, c.Outputs.ReportBlockSize, 0)
		case "armor.iters":
			longest := 0
			for i, it := range c.ARMOR.Iters {
				if it > c.ARMOR.Iters[longest] {
					longest = i
				}
			}
			idx[k] = indexOf(c.ARMOR.Iters, c.Outputs.ReportIters, longest)
		}
	}
	pats := c.Patterns()
	p := methods.Pattern24
	if len(pats) > 0 {
		p = pats[0]
	}
	m := mk.Configure(c, p, idx)
	def := methods.DefaultConfig()
	for k := len(mk.Knobs) - 1; k >= 0 && mk.Validate(m) != nil; k-- {
		mk.Knobs[k].Reset(&m, def)
	}
	return mk.ToKey(m)
}

// indexOf returns the index of v in vals when v is set (≠ 0) and listed,
// else def.
func indexOf(vals []int, v, def int) int {
	if v != 0 {
		if i := slices.Index(vals, v); i >= 0 {
			return i
		}
	}
	return def
}
