package sweep

import (
	"fmt"

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
// fixed order: layer, pattern, method, then the method's axes. It also
// returns notes on skipped cells (an ARMOR block size larger than both of a
// layer's dimensions is the same as the largest one that fits, so it is
// not repeated).
func Plan(c *config.Config, layers []source.Info) ([]Job, []string, error) {
	var jobs []Job
	var notes []string
	order := 0
	add := func(l source.Info, m string, p methods.Pattern, ps cells.Params) {
		j := Job{Index: len(jobs), Layer: l, LayerOrder: order, Method: m, Pattern: p, Params: ps}
		j.Key = cells.Key(cells.KeyInput{Version: Version, Kind: "layer", LayerID: l.Identity, Layer: l.Name,
			Method: m, Pattern: p.String(), Params: ps})
		jobs = append(jobs, j)
	}
	for li, l := range layers {
		order = li
		for _, p := range c.Patterns() {
			if err := p.Check(l.DIn); err != nil {
				return nil, nil, fmt.Errorf("layer %s (%d×%d): %w", l.Name, l.DOut, l.DIn, err)
			}
			for _, m := range c.Methods {
				switch m {
				case "armor":
					a := c.ARMOR
					fit := 0
					for _, b := range a.BlockSize {
						if b > max(l.DOut, l.DIn) && fit > 0 {
							notes = append(notes, fmt.Sprintf("%s (%d×%d): block size %d exceeds both dimensions; skipped", l.Name, l.DOut, l.DIn, b))
							continue
						}
						fit++
						for _, it := range a.Iters {
							for _, seed := range c.Seed {
								for _, lr := range a.LR {
									for _, sel := range a.Select {
										for _, cont := range a.Continuous {
											for _, pat := range a.Patience {
												for _, g := range a.GroupsPerTile {
													for _, prec := range a.Precision {
														if prec == "float32" && cont != "adam" {
															continue // float32 is for adam only (config validation requires an adam)
														}
														ps := cells.Params{BlockSize: b, Iters: it, Seed: seed, LR: lr, Select: sel, Continuous: cont, Patience: pat}
														ps.GroupsPerTile = groupsParam(g)
														ps.Precision = precisionParam(prec)
														add(l, m, p, ps)
													}
												}
											}
										}
									}
								}
							}
						}
					}
				case "sparsegpt":
					add(l, m, p, SparseGPTParams(c))
				default:
					add(l, m, p, cells.Params{})
				}
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
	return cells.Params{LazyBlock: c.SparseGPT.LazyBlock, Damp: c.SparseGPT.Damp, Precision: precisionParam(c.SparseGPT.Precision)}
}

// MethodConfig returns the methods.Config of job j; threads is ARMOR's
// kernel thread count.
func MethodConfig(j Job, threads int) methods.Config {
	cfg := methods.DefaultConfig()
	cfg.Pattern = j.Pattern
	p := j.Params
	if j.Method == "sparsegpt" {
		cfg.SparseGPT.LazyBlock, cfg.SparseGPT.Damp = p.LazyBlock, p.Damp
		if p.Precision != "" {
			cfg.SparseGPT.Precision = methods.Precision(p.Precision)
		}
	}
	if j.Method == "armor" {
		a := &cfg.ARMOR
		a.BlockSize, a.Iters, a.Seed, a.LR = p.BlockSize, p.Iters, p.Seed, p.LR
		a.Select, a.Continuous, a.Patience = methods.Selection(p.Select), methods.Continuous(p.Continuous), p.Patience
		a.Threads = threads
		if p.Precision != "" {
			a.Precision = methods.Precision(p.Precision)
		}
		switch {
		case p.GroupsPerTile == 0:
			a.GroupsPerTile = 1
		case p.GroupsPerTile < 0:
			a.GroupsPerTile = 0 // every group
		default:
			a.GroupsPerTile = p.GroupsPerTile
		}
	}
	return cfg
}

// Reference returns the ARMOR setting that represents ARMOR where a table
// or plot shows a single one: the first value of every ARMOR axis and of the
// seed axis, except the block size (outputs.report_block_size when set) and
// the iteration budget (outputs.report_iters when set, else the largest).
func Reference(c *config.Config) cells.Params {
	a := c.ARMOR
	p := cells.Params{}
	if len(a.BlockSize) > 0 {
		p.BlockSize = a.BlockSize[0]
	}
	for _, it := range a.Iters {
		p.Iters = max(p.Iters, it)
	}
	if len(c.Seed) > 0 {
		p.Seed = c.Seed[0]
	}
	if len(a.LR) > 0 {
		p.LR = a.LR[0]
	}
	if len(a.Select) > 0 {
		p.Select = a.Select[0]
	}
	if len(a.Continuous) > 0 {
		p.Continuous = a.Continuous[0]
	}
	if len(a.Patience) > 0 {
		p.Patience = a.Patience[0]
	}
	if len(a.GroupsPerTile) > 0 {
		p.GroupsPerTile = groupsParam(a.GroupsPerTile[0])
	}
	if len(a.Precision) > 0 && (a.Precision[0] != "float32" || p.Continuous == "adam") {
		p.Precision = precisionParam(a.Precision[0])
	}
	if c.Outputs.ReportBlockSize != 0 {
		p.BlockSize = c.Outputs.ReportBlockSize
	}
	if c.Outputs.ReportIters != 0 {
		p.Iters = c.Outputs.ReportIters
	}
	return p
}

// groupsParam maps the config's groups_per_tile (1 default, 0 every group)
// to cells.Params.GroupsPerTile (0 default, -1 every group).
func groupsParam(g int) int {
	switch g {
	case 1:
		return 0
	case 0:
		return -1
	}
	return g
}

// precisionParam maps the config's precision to cells.Params.Precision
// (empty for the default float64).
func precisionParam(s string) string {
	if s == string(methods.Float64) {
		return ""
	}
	return s
}
