package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
)

// effectiveConfig renders c — defaults filled in and every --set override
// applied — as YAML that `armor sweep --config dir/config.yaml` runs as is:
// file paths that exist are rewritten relative to dir (absolute ones stay
// absolute), paths that do not exist (looked up under the data root, or
// missing with a fallback) are kept as written.
func effectiveConfig(dir string, c *config.Config) ([]byte, error) {
	e := *c
	rel := func(p string) string { return relocate(c, dir, p) }
	if m := c.Source.Model; m != nil {
		mm := *m
		mm.Checkpoint, mm.Tokenizer, mm.DataRoot = rel(m.Checkpoint), rel(m.Tokenizer), rel(m.DataRoot)
		e.Source.Model = &mm
	}
	if s := c.Source.Safetensors; s != nil {
		ss := *s
		ss.Files = make([]string, len(s.Files))
		for i, f := range s.Files {
			ss.Files[i] = rel(f)
		}
		e.Source.Safetensors = &ss
	}
	e.Calibration.Corpus = rel(c.Calibration.Corpus)
	e.Evaluation.Perplexity = make([]string, len(c.Evaluation.Perplexity))
	for i, p := range c.Evaluation.Perplexity {
		e.Evaluation.Perplexity[i] = rel(p)
	}
	if len(c.Evaluation.Perplexity) == 0 {
		e.Evaluation.Perplexity = nil
	}
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(&e); err != nil {
		return nil, fmt.Errorf("effective config of %s: %w", c.File, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("effective config of %s: %w", c.File, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Effective config of %s", c.File)
	if len(c.Overrides) > 0 {
		fmt.Fprintf(&b, " with --set %q", strings.Join(c.Overrides, " "))
	}
	b.WriteString(": every key with its value as run (defaults filled in, overrides applied).\n")
	b.WriteString("# Re-run it as is: armor sweep --config " + filepath.Join(dir, "config.yaml") + "\n")
	b.Write(dropNulls(body.Bytes()))
	return []byte(b.String()), nil
}

// relocate rewrites path p of config c (relative to c's file) so that it
// names the same file relative to dir.
func relocate(c *config.Config, dir, p string) string {
	if p == "" || filepath.IsAbs(os.ExpandEnv(p)) {
		return p
	}
	abs := c.Resolve(p)
	if _, err := os.Stat(abs); err != nil {
		return p // under the data root, or missing: keep as written
	}
	if filepath.IsAbs(dir) != filepath.IsAbs(abs) {
		var err error
		if abs, err = filepath.Abs(abs); err != nil {
			return p
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return p
		}
	}
	r, err := filepath.Rel(dir, abs)
	if err != nil {
		return p
	}
	return r
}

// dropNulls removes "key: null" lines (unset source kinds), which the
// config loader would read as a present key.
func dropNulls(y []byte) []byte {
	var out []string
	for _, l := range strings.Split(string(y), "\n") {
		if strings.HasSuffix(l, ": null") {
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

// writeEffectiveConfig writes dir/config.yaml atomically.
func writeEffectiveConfig(dir string, c *config.Config) error {
	data, err := effectiveConfig(dir, c)
	if err != nil {
		return err
	}
	return cells.WriteFileAtomic(filepath.Join(dir, "config.yaml"), data)
}
