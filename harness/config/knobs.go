package config

import (
	"fmt"
	"slices"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/methods"
)

// A Knob is one setting of a method that a config sets: its key, how a value
// of it reaches the method's configuration, and how it is recorded in the
// cell key. Methods that ignore a knob leave it at its zero value in the key.
//
// A knob whose config key holds a list is a sweep axis: the sweep plan is
// the Cartesian product of a method's knobs. The method's own Validate is the
// only statement of which values are allowed (see MethodKnobs.Validate);
// a check of its own adds the few rules the harness needs on top, for values the method
// accepts but that would make two keys for one computation.
type Knob struct {
	// Key is the key path in the config, e.g. "armor.block_size".
	Key string
	// List says whether the key holds a list of values (a sweep axis) or
	// a single one.
	List bool
	// Known lists the values of an enumerated knob, for "did you mean"
	// suggestions (the method's Validate decides what is allowed).
	Known []string

	len     func(c *Config) int
	format  func(c *Config, i int) string
	set     func(c *Config, i int, m *methods.Config)
	toKey   func(m methods.Config, p *cells.Params)
	fromKey func(p cells.Params, m *methods.Config)
	fill    func(c *Config, d methods.Config)
	check   func(c *Config, i int) string
	// redundant, when set, says why value i of the knob would repeat the
	// result of a smaller value on a layer of the given shape ("" if not).
	redundant func(c *Config, i, dOut, dIn int) string
}

// Len returns the number of values c gives the knob.
func (k Knob) Len(c *Config) int { return k.len(c) }

// Path returns the key path of value i (Key[i] for a list).
func (k Knob) Path(i int) string {
	if k.List {
		return fmt.Sprintf("%s[%d]", k.Key, i)
	}
	return k.Key
}

// Format returns value i as text.
func (k Knob) Format(c *Config, i int) string { return k.format(c, i) }

// Set writes value i of c into the method configuration m.
func (k Knob) Set(c *Config, i int, m *methods.Config) { k.set(c, i, m) }

// Redundant returns why value i would repeat the result of a smaller value
// on a d_out × d_in layer, or "" when it does not.
func (k Knob) Redundant(c *Config, i, dOut, dIn int) string {
	if k.redundant == nil {
		return ""
	}
	return k.redundant(c, i, dOut, dIn)
}

// MethodKnobs are the knobs of one method and the method's own check of a
// configuration.
type MethodKnobs struct {
	// Knobs in plan order: the first varies slowest.
	Knobs []Knob
	// Validate is the method's Validate on its part of m.
	Validate func(m methods.Config) error
}

// ToKey returns the cell-key parameters of method configuration m.
func (mk MethodKnobs) ToKey(m methods.Config) cells.Params {
	var p cells.Params
	for _, k := range mk.Knobs {
		k.toKey(m, &p)
	}
	return p
}

// FromKey writes the settings recorded in cell-key parameters p into m.
func (mk MethodKnobs) FromKey(p cells.Params, m *methods.Config) {
	for _, k := range mk.Knobs {
		k.fromKey(p, m)
	}
}

// Knobs maps a method name to its knobs; methods without an entry have none
// (they run once per layer and pattern).
var Knobs = map[string]MethodKnobs{
	"armor": {
		Knobs: []Knob{
			same("armor.block_size", func(c *Config) *[]int { return &c.ARMOR.BlockSize },
				func(m *methods.Config) *int { return &m.ARMOR.BlockSize }, func(p *cells.Params) *int { return &p.BlockSize },
				withRedundant(blockSizeRedundant)),
			same("armor.iters", func(c *Config) *[]int { return &c.ARMOR.Iters },
				func(m *methods.Config) *int { return &m.ARMOR.Iters }, func(p *cells.Params) *int { return &p.Iters }),
			same("seed", func(c *Config) *[]uint64 { return &c.Seed },
				func(m *methods.Config) *uint64 { return &m.ARMOR.Seed }, func(p *cells.Params) *uint64 { return &p.Seed }),
			same("armor.lr", func(c *Config) *[]float64 { return &c.ARMOR.LR },
				func(m *methods.Config) *float64 { return &m.ARMOR.LR }, func(p *cells.Params) *float64 { return &p.LR }),
			enum("armor.select", func(c *Config) *[]string { return &c.ARMOR.Select },
				func(m *methods.Config) *methods.Selection { return &m.ARMOR.Select }, func(p *cells.Params) *string { return &p.Select },
				KnownSelect, ""),
			enum("armor.continuous", func(c *Config) *[]string { return &c.ARMOR.Continuous },
				func(m *methods.Config) *methods.Continuous { return &m.ARMOR.Continuous }, func(p *cells.Params) *string { return &p.Continuous },
				KnownContinuous, ""),
			same("armor.patience", func(c *Config) *[]int { return &c.ARMOR.Patience },
				func(m *methods.Config) *int { return &m.ARMOR.Patience }, func(p *cells.Params) *int { return &p.Patience },
				withCheck(func(v int) string {
					if v < 0 {
						return fmt.Sprintf("%d must be ≥ 0 (0 disables early stopping)", v)
					}
					return ""
				})),
			// The key writes the default 1 as 0 (omitted), so keys made before
			// the knob existed stay valid, and "every group" (0) as -1.
			coded("armor.groups_per_tile", func(c *Config) *[]int { return &c.ARMOR.GroupsPerTile },
				func(m *methods.Config) *int { return &m.ARMOR.GroupsPerTile }, func(p *cells.Params) *int { return &p.GroupsPerTile },
				groupsToKey, groupsFromKey),
			// float64, the default, is omitted from the key, so keys made
			// before the knob existed stay valid.
			enum("armor.precision", func(c *Config) *[]string { return &c.ARMOR.Precision },
				func(m *methods.Config) *methods.Precision { return &m.ARMOR.Precision }, func(p *cells.Params) *string { return &p.Precision },
				KnownPrecision, string(methods.Float64)),
		},
		Validate: func(m methods.Config) error { return m.ARMOR.Validate(m.Pattern) },
	},
	"sparsegpt": {
		Knobs: []Knob{
			same("sparsegpt.lazy_block", func(c *Config) *int { return &c.SparseGPT.LazyBlock },
				func(m *methods.Config) *int { return &m.SparseGPT.LazyBlock }, func(p *cells.Params) *int { return &p.LazyBlock },
				withCheck(func(v int) string {
					if v <= 0 {
						return fmt.Sprintf("%d must be positive", v) // SparseGPT reads ≤ 0 as its default
					}
					return ""
				})),
			same("sparsegpt.damp", func(c *Config) *float64 { return &c.SparseGPT.Damp },
				func(m *methods.Config) *float64 { return &m.SparseGPT.Damp }, func(p *cells.Params) *float64 { return &p.Damp }),
			enum("sparsegpt.precision", func(c *Config) *string { return &c.SparseGPT.Precision },
				func(m *methods.Config) *methods.Precision { return &m.SparseGPT.Precision }, func(p *cells.Params) *string { return &p.Precision },
				KnownPrecision, string(methods.Float64)),
		},
		Validate: func(m methods.Config) error { return m.SparseGPT.Validate(m.Pattern) },
	},
}

// KnobMethods returns the names of the methods with knobs, sorted.
func KnobMethods() []string {
	names := make([]string, 0, len(Knobs))
	for n := range Knobs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// groupsToKey writes groups per tile into the key: the default 1 as 0
// (omitted), every group (0) as -1.
func groupsToKey(g int) int {
	switch g {
	case 1:
		return 0
	case 0:
		return -1
	}
	return g
}

// groupsFromKey inverts groupsToKey.
func groupsFromKey(g int) int {
	switch g {
	case 0:
		return 1
	case -1:
		return 0
	}
	return g
}

// Reset puts the knob's setting in m back to its value in def.
func (k Knob) Reset(m *methods.Config, def methods.Config) {
	var p cells.Params
	k.toKey(def, &p)
	k.fromKey(p, m)
}
