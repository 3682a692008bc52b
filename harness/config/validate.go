package config

import (
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prunebench/armor/methods"
)

// Defaults of the optional keys.
const (
	DefaultOutputDir  = "results"
	DefaultPattern    = "2:4"
	DefaultSamples    = 256
	DefaultScale      = 0.02
	DefaultOutlierMin = 10
	DefaultOutlierMax = 50
)

func (c *Config) setDefaults() {
	if c.OutputDir == "" {
		c.OutputDir = DefaultOutputDir
	}
	if c.Pattern == nil {
		c.Pattern = []string{DefaultPattern}
	}
	c.setKnobDefaults()
	if s := c.Source.Synthetic; s != nil {
		if s.Samples == 0 {
			s.Samples = DefaultSamples
		}
		if s.Scale == 0 {
			s.Scale = DefaultScale
		}
		if s.OutlierMin == 0 {
			s.OutlierMin = DefaultOutlierMin
		}
		if s.OutlierMax == 0 {
			s.OutlierMax = DefaultOutlierMax
		}
	}
	if m := c.Source.Model; m != nil {
		if m.Fallback == "" {
			m.Fallback = "error"
		}
		if m.Projections == nil {
			m.Projections = slices.Clone(KnownProjections)
		}
	}
	if c.Calibration.Sequences == 0 {
		c.Calibration.Sequences = 32
	}
	if c.Calibration.Length == 0 {
		c.Calibration.Length = 128
	}
	o := &c.Outputs
	if o.Tables == nil {
		o.Tables = slices.Clone(KnownTables)
	}
	if o.Formats == nil {
		o.Formats = slices.Clone(KnownFormats)
	}
	if o.Plots == nil {
		o.Plots = slices.Clone(KnownPlots)
	}
	if o.PlotFormats == nil {
		o.PlotFormats = slices.Clone(KnownPlotFormats)
	}
}

// Line returns the line of key path p (0 when it came from an override or
// is absent).
func (c *Config) Line(p string) int { return c.pos[p] }

// Errorf returns an *Error located at key path p of the config: the line of
// p, else of the nearest enclosing key that was written, else the file alone.
func (c *Config) Errorf(p, format string, args ...any) *Error {
	line, ok := c.pos[p]
	for q := p; !ok && q != ""; {
		if i := strings.LastIndexAny(q, ".["); i >= 0 {
			q = q[:i]
		} else {
			q = ""
		}
		line, ok = c.pos[q]
	}
	if !ok {
		line = -1
	}
	return &Error{File: c.File, Line: line, Path: p, Msg: fmt.Sprintf(format, args...)}
}

// Resolve returns p relative to the config file's directory (absolute paths
// and paths starting with ~ are kept; $VARS are expanded).
func (c *Config) Resolve(p string) string {
	p = os.ExpandEnv(p)
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

// Patterns returns the parsed pattern axis.
func (c *Config) Patterns() []methods.Pattern {
	out := make([]methods.Pattern, 0, len(c.Pattern))
	for _, s := range c.Pattern {
		p, err := methods.ParsePattern(s)
		if err == nil {
			out = append(out, p)
		}
	}
	return out
}

// HasMethod reports whether the method axis holds name.
func (c *Config) HasMethod(name string) bool { return slices.Contains(c.Methods, name) }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (c *Config) validate() Errors {
	var errs Errors
	bad := func(p, format string, args ...any) { errs = append(errs, c.Errorf(p, format, args...)) }

	switch {
	case c.Experiment == "":
		bad("experiment", "missing: name the experiment (results go to %s/<experiment>)", c.OutputDir)
	case !nameRE.MatchString(c.Experiment):
		bad("experiment", "%q: use letters, digits, '.', '_' and '-' only (it names a directory)", c.Experiment)
	}

	// Source.
	kinds := 0
	for _, k := range []bool{c.Source.Synthetic != nil, c.Source.Safetensors != nil, c.Source.Model != nil} {
		if k {
			kinds++
		}
	}
	if kinds != 1 {
		bad("source", "give exactly one of source.synthetic, source.safetensors, source.model (got %d)", kinds)
	}
	pats := c.Patterns()
	if s := c.Source.Synthetic; s != nil {
		if len(s.Shapes) == 0 {
			bad("source.synthetic.shapes", "empty: list at least one {name, d_out, d_in}")
		}
		names := map[string]bool{}
		for i, sh := range s.Shapes {
			p := fmt.Sprintf("source.synthetic.shapes[%d]", i)
			if sh.Name == "" {
				bad(p+".name", "missing: every shape needs a name")
			} else if names[sh.Name] {
				bad(p+".name", "%q is used twice", sh.Name)
			}
			names[sh.Name] = true
			if sh.DOut <= 0 {
				bad(p+".d_out", "%d must be positive", sh.DOut)
			}
			if sh.DIn <= 0 {
				bad(p+".d_in", "%d must be positive", sh.DIn)
			}
			for _, pt := range pats {
				if sh.DIn > 0 && sh.DIn%pt.M != 0 {
					bad(p+".d_in", "%d is not a multiple of M=%d (pattern %s)", sh.DIn, pt.M, pt)
				}
			}
			if s.Outliers > sh.DIn && sh.DIn > 0 {
				bad("source.synthetic.outliers", "%d outlier channels but shape %q has only d_in=%d", s.Outliers, sh.Name, sh.DIn)
			}
		}
		if s.Samples < 1 {
			bad("source.synthetic.samples", "%d must be ≥ 1", s.Samples)
		}
		if !(s.Scale > 0) || math.IsInf(s.Scale, 0) {
			bad("source.synthetic.scale", "%g must be a positive number", s.Scale)
		}
		if s.Outliers < 0 {
			bad("source.synthetic.outliers", "%d must be ≥ 0", s.Outliers)
		}
		if !(s.OutlierMin > 0) || !(s.OutlierMax >= s.OutlierMin) {
			bad("source.synthetic.outlier_min", "want 0 < outlier_min ≤ outlier_max, got %g and %g", s.OutlierMin, s.OutlierMax)
		}
	}
	if s := c.Source.Safetensors; s != nil {
		if len(s.Files) == 0 {
			bad("source.safetensors.files", "empty: list at least one file with tensors W and X")
		}
		for i, f := range s.Files {
			if _, err := os.Stat(c.Resolve(f)); err != nil {
				bad(fmt.Sprintf("source.safetensors.files[%d]", i), "cannot read %s: %v", f, unwrapPathErr(err))
			}
		}
	}
	if m := c.Source.Model; m != nil {
		if !slices.Contains(KnownFallbacks, m.Fallback) {
			bad("source.model.fallback", "%s", oneOf(m.Fallback, KnownFallbacks))
		}
		if m.Checkpoint == "" {
			bad("source.model.checkpoint", "missing: the path of the model checkpoint")
		} else if _, err := os.Stat(c.Resolve(m.Checkpoint)); err != nil && m.Fallback != "builtin" && !c.underDataRoot(m, m.Checkpoint) {
			bad("source.model.checkpoint", "cannot read %s: %v (set source.model.data_root or $ARMOR_DATA to a local mirror, or source.model.fallback: builtin to run on the embedded default instead)", m.Checkpoint, unwrapPathErr(err))
		}
		if m.DataRoot != "" {
			if st, err := os.Stat(c.Resolve(m.DataRoot)); err != nil || !st.IsDir() {
				bad("source.model.data_root", "%s is not a directory", m.DataRoot)
			}
		}
		for i, l := range m.Layers {
			if l < 0 {
				bad(fmt.Sprintf("source.model.layers[%d]", i), "%d must be ≥ 0", l)
			}
		}
		if len(m.Projections) == 0 {
			bad("source.model.projections", "empty: list at least one of %s", strings.Join(KnownProjections, ", "))
		}
		for i, p := range m.Projections {
			if !slices.Contains(KnownProjections, p) {
				bad(fmt.Sprintf("source.model.projections[%d]", i), "%s", oneOf(p, KnownProjections))
			}
		}
		cal := c.Calibration
		if cal.Sequences < 1 {
			bad("calibration.sequences", "%d must be ≥ 1", cal.Sequences)
		}
		if cal.Length < 2 {
			bad("calibration.length", "%d must be ≥ 2", cal.Length)
		}
		if cal.Corpus != "" && m.Fallback != "builtin" {
			if _, err := os.Stat(c.Resolve(cal.Corpus)); err != nil && !c.underDataRoot(m, cal.Corpus) {
				bad("calibration.corpus", "cannot read %s: %v", cal.Corpus, unwrapPathErr(err))
			}
		}
	}

	// Axes.
	if len(c.Methods) == 0 {
		bad("methods", "empty sweep: list at least one of %s", strings.Join(methods.Names(), ", "))
	}
	seen := map[string]bool{}
	for i, m := range c.Methods {
		p := fmt.Sprintf("methods[%d]", i)
		switch {
		case !slices.Contains(methods.Names(), m):
			bad(p, "%s", oneOf(m, methods.Names()))
		case seen[m]:
			bad(p, "%q is listed twice", m)
		}
		seen[m] = true
	}
	if len(c.Pattern) == 0 {
		bad("pattern", "empty sweep: list at least one N:M pattern, e.g. \"2:4\"")
	}
	for i, s := range c.Pattern {
		if _, err := methods.ParsePattern(s); err != nil {
			bad(fmt.Sprintf("pattern[%d]", i), "%v", err)
		}
	}
	if len(c.Seed) == 0 {
		bad("seed", "empty sweep: list at least one seed")
	}
	for i, l := range c.Layers {
		if _, err := path.Match(l, ""); err != nil {
			bad(fmt.Sprintf("layers[%d]", i), "%q is not a valid glob: %v", l, err)
		}
	}
	c.validateKnobs(bad)
	if len(c.Evaluation.Perplexity) > 0 && c.Source.Model == nil {
		bad("evaluation.perplexity", "perplexity needs a model source (source.model)")
	}
	if c.Evaluation.MaxWindows < 0 {
		bad("evaluation.max_windows", "%d must be ≥ 0 (0: every window)", c.Evaluation.MaxWindows)
	}
	if c.Run.Workers < 0 {
		bad("run.workers", "%d must be ≥ 0 (0: all cores)", c.Run.Workers)
	}
	o := c.Outputs
	for _, e := range []struct {
		key         string
		vals, known []string
	}{{"outputs.tables", o.Tables, KnownTables}, {"outputs.formats", o.Formats, KnownFormats}, {"outputs.plots", o.Plots, KnownPlots}, {"outputs.plot_formats", o.PlotFormats, KnownPlotFormats}} {
		for i, v := range e.vals {
			if !slices.Contains(e.known, v) {
				bad(fmt.Sprintf("%s[%d]", e.key, i), "%s", oneOf(v, e.known))
			}
		}
	}
	a := c.ARMOR
	if o.ReportBlockSize != 0 && !slices.Contains(a.BlockSize, o.ReportBlockSize) {
		bad("outputs.report_block_size", "%d is not among armor.block_size %v", o.ReportBlockSize, a.BlockSize)
	}
	if o.ReportIters != 0 && !slices.Contains(a.Iters, o.ReportIters) {
		bad("outputs.report_iters", "%d is not among armor.iters %v", o.ReportIters, a.Iters)
	}
	return errs
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// underDataRoot reports whether rel exists under the model source's data
// root (source.model.data_root, else $ARMOR_DATA), where the model source
// looks for paths that do not exist as given.
func (c *Config) underDataRoot(m *Model, rel string) bool {
	root := os.Getenv("ARMOR_DATA")
	if m.DataRoot != "" {
		root = c.Resolve(m.DataRoot)
	}
	if root == "" || filepath.IsAbs(rel) {
		return false
	}
	_, err := os.Stat(filepath.Join(root, rel))
	return err == nil
}
