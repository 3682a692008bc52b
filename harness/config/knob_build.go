package config

import (
	"fmt"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/methods"
)

// values is how a knob's values are stored in a Config: a list, or a single
// value (get returns it as a one-element list). fill sets the default when
// the key is absent: a nil list, or a single value left at its zero value.
type values[V any] struct {
	isList bool
	get    func(c *Config) []V
	fill   func(c *Config, d V)
}

// option adjusts a knob being built.
type option[V any] func(k *Knob, get func(c *Config) []V)

func withCheck[V any](rule func(v V) string) option[V] {
	return func(k *Knob, get func(c *Config) []V) {
		k.check = func(c *Config, i int) string { return rule(get(c)[i]) }
	}
}

func withRedundant(rule func(vals []int, i, dOut, dIn int) string) option[int] {
	return func(k *Knob, get func(c *Config) []int) {
		k.redundant = func(c *Config, i, dOut, dIn int) string { return rule(get(c), i, dOut, dIn) }
	}
}

// blockSizeRedundant: a block size larger than both dimensions of a layer
// gives the same blocks as any other such size, so on that layer only the
// first size of the list is run when it is one of them (the first size is
// always run, so every layer has an ARMOR cell).
func blockSizeRedundant(vals []int, i, dOut, dIn int) string {
	if i == 0 || vals[i] <= max(dOut, dIn) {
		return ""
	}
	return fmt.Sprintf("block size %d exceeds both dimensions", vals[i])
}

// storage is where a knob's values live in a Config: a list or a single
// value.
type storage[V comparable] interface {
	func(c *Config) *[]V | func(c *Config) *V
}

func storageOf[V comparable, S storage[V]](s S) values[V] {
	switch f := any(s).(type) {
	case func(c *Config) *[]V:
		return values[V]{
			isList: true,
			get:    func(c *Config) []V { return *f(c) },
			fill: func(c *Config, d V) {
				if *f(c) == nil {
					*f(c) = []V{d}
				}
			},
		}
	case func(c *Config) *V:
		return values[V]{
			get: func(c *Config) []V { return []V{*f(c)} },
			fill: func(c *Config, d V) {
				var zero V
				if *f(c) == zero {
					*f(c) = d
				}
			},
		}
	}
	panic(fmt.Sprintf("config: knob storage %T", s)) // unreachable: S is one of the two
}

// same is a knob whose config value, method field and key field have one
// type and one meaning.
func same[V comparable, S storage[V]](key string, at S, field func(m *methods.Config) *V, param func(p *cells.Params) *V, opts ...option[V]) Knob {
	id := func(v V) V { return v }
	return build(key, storageOf[V](at), field, param, id, id, id, id, opts)
}

// coded is a knob whose key field encodes the value (enc) and decodes it
// back (dec).
func coded[V comparable, S storage[V]](key string, at S, field func(m *methods.Config) *V, param func(p *cells.Params) *V, enc, dec func(V) V, opts ...option[V]) Knob {
	id := func(v V) V { return v }
	return build(key, storageOf[V](at), field, param, id, id, enc, dec, opts)
}

// enum is a knob of named string values; omit is the value the key leaves
// empty (for settings added after keys were first made), or "".
func enum[M ~string, S storage[string]](key string, at S, field func(m *methods.Config) *M, param func(p *cells.Params) *string, known []string, omit string, opts ...option[string]) Knob {
	enc := func(v string) string {
		if v == omit {
			return ""
		}
		return v
	}
	dec := func(v string) string {
		if v == "" {
			return omit
		}
		return v
	}
	k := build(key, storageOf[string](at), field, param, func(v string) M { return M(v) }, func(m M) string { return string(m) }, enc, dec, opts)
	k.Known = known
	return k
}

// build assembles a Knob: the config holds values of type V, the method
// field has type M (toM and fromM convert), and the key field holds enc(v).
func build[V comparable, M any](key string, at values[V], field func(m *methods.Config) *M, param func(p *cells.Params) *V,
	toM func(V) M, fromM func(M) V, enc, dec func(V) V, opts []option[V]) Knob {
	k := Knob{
		Key:     key,
		List:    at.isList,
		len:     func(c *Config) int { return len(at.get(c)) },
		format:  func(c *Config, i int) string { return fmt.Sprint(at.get(c)[i]) },
		set:     func(c *Config, i int, m *methods.Config) { *field(m) = toM(at.get(c)[i]) },
		toKey:   func(m methods.Config, p *cells.Params) { *param(p) = enc(fromM(*field(&m))) },
		fromKey: func(p cells.Params, m *methods.Config) { *field(m) = toM(dec(*param(&p))) },
		fill:    func(c *Config, d methods.Config) { at.fill(c, fromM(*field(&d))) },
	}
	for _, o := range opts {
		o(&k, at.get)
	}
	return k
}
