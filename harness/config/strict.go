package config

import (
	"fmt"
	"math"
	"os"
	"strconv"

	"gopkg.in/yaml.v3"
)

// noZeroKeys are the keys whose default applies when they are absent, but
// for which a written 0 is not a valid value: "samples: 0" is an error, not
// a request for the default.
var noZeroKeys = map[string]string{
	"source.synthetic.samples": "an integer ≥ 1",
	"source.synthetic.scale":   "a positive number",
	"calibration.sequences":    "an integer ≥ 1",
	"calibration.length":       "an integer ≥ 1",
	"sparsegpt.lazy_block":     "an integer ≥ 1",
}

// checkExplicitZero reports a 0 written at a key of noZeroKeys.
func (w *walker) checkExplicitZero(n *yaml.Node, path string) {
	want, ok := noZeroKeys[path]
	if !ok || n.Kind != yaml.ScalarNode {
		return
	}
	if v, err := strconv.ParseFloat(n.Value, 64); err == nil && v == 0 {
		w.errorf(n.Line, path, "0 is not allowed: want %s (leave the key out for the default)", want)
	}
}

// checkWholeNumber reports a non-integer number given for an integer key
// (yaml.v3 would truncate 1.5 to 1).
func (w *walker) checkWholeNumber(n *yaml.Node, path, want string) bool {
	if n.ShortTag() != "!!float" {
		return true
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || v != math.Trunc(v) || math.IsInf(v, 0) {
		w.errorf(n.Line, path, "want %s, got %q", want, n.Value)
		return false
	}
	return true
}

// pathKeys returns every path-valued key of c with its value.
func (c *Config) pathKeys() [][2]string {
	out := [][2]string{{"output_dir", c.OutputDir}, {"calibration.corpus", c.Calibration.Corpus}}
	if s := c.Source.Safetensors; s != nil {
		for i, f := range s.Files {
			out = append(out, [2]string{fmt.Sprintf("source.safetensors.files[%d]", i), f})
		}
	}
	if m := c.Source.Model; m != nil {
		out = append(out, [2]string{"source.model.checkpoint", m.Checkpoint},
			[2]string{"source.model.tokenizer", m.Tokenizer}, [2]string{"source.model.data_root", m.DataRoot})
	}
	for i, p := range c.Evaluation.Perplexity {
		out = append(out, [2]string{fmt.Sprintf("evaluation.perplexity[%d]", i), p})
	}
	return out
}

// checkEnvVars reports every $VAR or ${VAR} in a path key that is not set
// in the environment (it would expand to "" and silently change the path).
func (c *Config) checkEnvVars() Errors {
	var errs Errors
	for _, kv := range c.pathKeys() {
		seen := map[string]bool{}
		os.Expand(kv[1], func(name string) string {
			if _, ok := os.LookupEnv(name); !ok && !seen[name] {
				seen[name] = true
				errs = append(errs, c.Errorf(kv[0], "%q uses the environment variable $%s, which is not set", kv[1], name))
			}
			return ""
		})
	}
	return errs
}
