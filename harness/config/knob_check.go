package config

import (
	"fmt"
	"slices"

	"github.com/prunebench/armor/methods"
)

// setKnobDefaults fills every absent knob with its method's default.
func (c *Config) setKnobDefaults() {
	d := methods.DefaultConfig()
	for _, name := range KnobMethods() {
		for _, k := range Knobs[name].Knobs {
			k.fill(c, d)
		}
	}
}

// Product calls fn with the index of one value per knob, for every
// combination of the values in lists (lists[k] are the indices allowed for
// knob k), the last knob varying fastest. It calls fn once with no indices
// when there are no knobs, and never when a list is empty.
func Product(lists [][]int, fn func(idx []int)) {
	idx := make([]int, len(lists))
	pos := make([]int, len(lists))
	for _, l := range lists {
		if len(l) == 0 {
			return
		}
	}
	for k, l := range lists {
		idx[k] = l[0]
	}
	for {
		fn(idx)
		k := len(lists) - 1
		for ; k >= 0; k-- {
			pos[k]++
			if pos[k] < len(lists[k]) {
				idx[k] = lists[k][pos[k]]
				break
			}
			pos[k] = 0
			idx[k] = lists[k][0]
		}
		if k < 0 {
			return
		}
	}
}

// All returns the indices of every value of every knob of mk in c.
func (mk MethodKnobs) All(c *Config) [][]int {
	lists := make([][]int, len(mk.Knobs))
	for k, kn := range mk.Knobs {
		lists[k] = make([]int, kn.Len(c))
		for i := range lists[k] {
			lists[k][i] = i
		}
	}
	return lists
}

// Configure returns the method configuration of pattern p with value idx[k]
// of every knob k (the method's defaults elsewhere).
func (mk MethodKnobs) Configure(c *Config, p methods.Pattern, idx []int) methods.Config {
	m := methods.DefaultConfig()
	m.Pattern = p
	for k, kn := range mk.Knobs {
		kn.Set(c, idx[k], &m)
	}
	return m
}

// validateKnobs checks every knob value with the method's own Validate, for
// every pattern of the sweep, and reports each bad value at its key:
//
//   - a value the method rejects when it is the only setting changed from
//     the method's defaults is reported with the method's message;
//   - for a method on the method axis, a value that is fine alone but no
//     combination of the listed values accepts (e.g. armor.precision
//     float32 when armor.continuous lists no adam) is reported with the
//     message of the first such combination, once per message, at the last
//     knob concerned. Combinations the method rejects are not planned.
func (c *Config) validateKnobs(bad func(p, format string, args ...any)) {
	pats := c.Patterns()
	for _, name := range KnobMethods() {
		mk := Knobs[name]
		listed := c.HasMethod(name)
		empty := false
		for _, k := range mk.Knobs {
			if listed && k.Len(c) == 0 {
				bad(k.Key, "empty sweep: %s is among the methods, so list at least one value", name)
				empty = true
			}
		}
		for _, k := range mk.Knobs {
			for i := range k.Len(c) {
				if msg := k.checkMsg(c, i); msg != "" {
					bad(k.Path(i), "%s", msg)
				}
			}
		}
		for pi, p := range pats {
			suffix := ""
			if len(pats) > 1 {
				suffix = fmt.Sprintf(" (pattern %s)", p)
			}
			base := methods.DefaultConfig()
			base.Pattern = p
			if mk.Validate(base) != nil {
				// The pattern conflicts with a default of the method; only the
				// combinations of the listed values can say more.
				if listed && !empty && !c.anyValid(mk, p) {
					bad(fmt.Sprintf("pattern[%d]", pi), "no %s setting of this config works with pattern %s: %v", name, p, c.firstError(mk, p))
				}
				continue
			}
			alone := true
			for _, k := range mk.Knobs {
				for i := range k.Len(c) {
					if k.checkMsg(c, i) != "" {
						alone = false
						continue
					}
					m := base
					k.Set(c, i, &m)
					if err := mk.Validate(m); err != nil {
						bad(k.Path(i), "%s%s", k.withSuggestion(c, i, err), suffix)
						alone = false
					}
				}
			}
			if alone && listed && !empty {
				c.validateCombinations(mk, p, suffix, bad)
			}
		}
	}
}

// checkMsg returns the harness's own complaint about value i, or "".
func (k Knob) checkMsg(c *Config, i int) string {
	if k.check == nil {
		return ""
	}
	return k.check(c, i)
}

// withSuggestion is err's message, with a suggestion for a near miss of an
// enumerated value.
func (k Knob) withSuggestion(c *Config, i int, err error) string {
	msg := err.Error()
	v := k.Format(c, i)
	if len(k.Known) > 0 && !slices.Contains(k.Known, v) {
		if sg := suggest(v, k.Known); sg != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sg)
		}
	}
	return msg
}

// validateCombinations reports values that appear in no combination the
// method accepts (see validateKnobs).
func (c *Config) validateCombinations(mk MethodKnobs, p methods.Pattern, suffix string, bad func(p, format string, args ...any)) {
	ok := make([][]bool, len(mk.Knobs))
	why := make([][]error, len(mk.Knobs))
	for k, kn := range mk.Knobs {
		ok[k] = make([]bool, kn.Len(c))
		why[k] = make([]error, kn.Len(c))
	}
	Product(mk.All(c), func(idx []int) {
		err := mk.Validate(mk.Configure(c, p, idx))
		for k, i := range idx {
			if err == nil {
				ok[k][i] = true
			} else if why[k][i] == nil {
				why[k][i] = err
			}
		}
	})
	type report struct{ path, msg string }
	var reports []report
	seen := map[string]int{}
	for k, kn := range mk.Knobs {
		for i := range ok[k] {
			if ok[k][i] {
				continue
			}
			msg := why[k][i].Error()
			if j, dup := seen[msg]; dup {
				reports[j].path = kn.Path(i) // the last knob concerned
				continue
			}
			seen[msg] = len(reports)
			reports = append(reports, report{kn.Path(i), msg})
		}
	}
	for _, r := range reports {
		bad(r.path, "%s%s", r.msg, suffix)
	}
}

// anyValid reports whether some combination of the listed values passes the
// method's Validate with pattern p.
func (c *Config) anyValid(mk MethodKnobs, p methods.Pattern) bool {
	return c.firstError(mk, p) == nil
}

// firstError returns nil when some combination passes, else the error of the
// first combination.
func (c *Config) firstError(mk MethodKnobs, p methods.Pattern) error {
	var first error
	valid := false
	Product(mk.All(c), func(idx []int) {
		if valid {
			return
		}
		err := mk.Validate(mk.Configure(c, p, idx))
		if err == nil {
			valid = true
		} else if first == nil {
			first = err
		}
	})
	if valid {
		return nil
	}
	return first
}
