package methods

import (
	"fmt"
	"sort"
	"strings"
)

// Method prunes one layer. Implementations are stateless apart from their
// configuration and safe for concurrent use.
type Method interface {
	// Name is the registry name: magnitude, wanda, sparsegpt, nowag, armor.
	Name() string
	// Prune returns the pruned layer. It never modifies l.
	Prune(l *Layer) (*Result, error)
}

// Config holds every knob of every method; each method reads its own part.
type Config struct {
	Pattern   Pattern
	SparseGPT SparseGPTConfig
	ARMOR     ARMORConfig
}

// DefaultConfig is 2:4 with each method's published defaults.
func DefaultConfig() Config {
	return Config{Pattern: Pattern24, SparseGPT: DefaultSparseGPTConfig(), ARMOR: DefaultARMORConfig()}
}

var registry = map[string]func(Config) Method{
	"magnitude": func(c Config) Method { return &Magnitude{Pattern: c.Pattern} },
	"wanda":     func(c Config) Method { return &Wanda{Pattern: c.Pattern} },
	"nowag":     func(c Config) Method { return &NoWagP{Pattern: c.Pattern} },
	"sparsegpt": func(c Config) Method { return &SparseGPT{Pattern: c.Pattern, Config: c.SparseGPT} },
	"armor":     func(c Config) Method { return &ARMOR{Pattern: c.Pattern, Config: c.ARMOR} },
}

// Names lists the registered method names in alphabetical order.
func Names() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New returns the method registered under name, configured by cfg.
func New(name string, cfg Config) (Method, error) {
	f, ok := registry[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("unknown method %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if err := cfg.Pattern.Valid(); err != nil {
		return nil, err
	}
	return f(cfg), nil
}
