package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/cost"
	"github.com/prunebench/armor/harness/plots"
	"github.com/prunebench/armor/harness/report"
	"github.com/prunebench/armor/harness/source"
	"github.com/prunebench/armor/harness/sweep"
	"github.com/prunebench/armor/model"
)

func init() {
	commands["tables"] = command{summary: "re-render the tables and plots of a config from its cells.jsonl", run: runTables}
}

func runTables(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor tables", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "experiment config (YAML)")
	var sets stringList
	fs.Var(&sets, "set", "override config keys, as for sweep (e.g. outputs.report_block_size=64)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return errors.New("flag --config is required")
	}
	c, err := config.Load(*cfgPath, sets...)
	if err != nil {
		return err
	}
	dir := experimentDir(c)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("results directory %s: %w (run armor sweep --config %s first)", dir, err, c.File)
	}
	lock, err := cells.Acquire(filepath.Join(dir, "cells.jsonl"))
	if err != nil {
		return err
	}
	defer lock.Release()
	return renderOutputs(c, dir, stdout, stderr)
}

// renderOutputs reads dir/cells.jsonl and writes the tables and plots c asks
// for, printing the Markdown tables to stdout.
func renderOutputs(c *config.Config, dir string, stdout, stderr io.Writer) error {
	path := filepath.Join(dir, "cells.jsonl")
	cs, _, err := cells.Read(path)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		shards, _ := filepath.Glob(filepath.Join(dir, "cells.shard-*.jsonl"))
		if len(shards) > 0 {
			return fmt.Errorf("%s has no cells, but %d shard file(s) exist: run armor merge --config %s first", path, len(shards), c.File)
		}
		return fmt.Errorf("%s has no cells: run armor sweep --config %s first", path, c.File)
	}
	cs = onlyExperiment(cs, c.Experiment)
	cs, stale := currentVersion(cs)
	if stale > 0 {
		fmt.Fprintf(stderr, "%s: ignoring %d cell(s) computed by an older code version (not %s); armor sweep recomputes those the config still asks for\n", path, stale, sweep.Version)
	}
	if len(cs) == 0 {
		return fmt.Errorf("%s has no cells of the current code version %s: run armor sweep --config %s", path, sweep.Version, c.File)
	}
	ref := sweep.Reference(c)
	opt := report.Options{Tables: c.Outputs.Tables, ARMOR: ref}
	if c.Outputs.CostEnabled() {
		// Speedups are timed once per (shape, format, block size) and kept
		// in cost.json, never in cells.jsonl: they are not deterministic.
		if opt.Costs, err = cost.For(cs, filepath.Join(dir, cost.FileName), true, cost.Timed); err != nil {
			return err
		}
		if opt.ModelSpeedups, err = modelSpeedups(c, cs, filepath.Join(dir, cost.FileName), stderr); err != nil {
			return err
		}
	}
	ts := report.Build(cs, opt)
	header := resultsHeader(c, cs)
	written, err := report.Write(dir, ts, c.Outputs.Formats, header, stdout)
	if err != nil {
		return err
	}
	ps, err := plots.Write(dir, cs, c.Outputs.Plots, c.Outputs.PlotFormats, ref)
	if err != nil {
		return err
	}
	written = append(written, ps...)
	fmt.Fprintf(stderr, "wrote %d files to %s\n", len(written), dir)
	return nil
}

// currentVersion keeps the cells made by this code version (sweep.Version):
// after a change of the numerics a results directory holds both the stale
// cells and their recomputed twins, and tables must not mix them. It returns
// how many it dropped.
func currentVersion(cs []*cells.Cell) ([]*cells.Cell, int) {
	var out []*cells.Cell
	for _, c := range cs {
		if c.Version == sweep.Version {
			out = append(out, c)
		}
	}
	return out, len(cs) - len(out)
}

func onlyExperiment(cs []*cells.Cell, exp string) []*cells.Cell {
	var out []*cells.Cell
	for _, c := range cs {
		if c.Experiment == exp {
			out = append(out, c)
		}
	}
	return out
}

// resultsHeader describes where the numbers came from, including any
// source note (e.g. a fallback to the builtin layers).
func resultsHeader(c *config.Config, cs []*cells.Cell) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Experiment %s\n\n", c.Experiment)
	if c.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(c.Description))
	}
	srcs, notes := map[string]bool{}, map[string]bool{}
	for _, cl := range cs {
		srcs[cl.Source] = true
		if cl.Note != "" {
			notes[cl.Note] = true
		}
	}
	for _, s := range sortedSet(srcs) {
		fmt.Fprintf(&b, "Source: %s.  \n", s)
	}
	fmt.Fprintf(&b, "Cells: %d (from %s).\n", len(cs), filepath.Join(experimentDir(c), "cells.jsonl"))
	for _, n := range sortedSet(notes) {
		fmt.Fprintf(&b, "\n> **NOTE:** %s\n", n)
	}
	return strings.TrimRight(b.String(), "\n")
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// modelSpeedups measures (or reads from cost.json) the whole-model decode
// speedups of the model cells' formats on the config's checkpoint. Without
// model cells, or when the checkpoint cannot be opened (say why on stderr),
// it returns nil and the perplexity table has no decode column.
func modelSpeedups(c *config.Config, cs []*cells.Cell, path string, stderr io.Writer) (map[report.CostKey]float64, error) {
	if c.Source.Model == nil || len(report.ModelCostKeys(cs)) == 0 {
		return nil, nil
	}
	src, err := source.Open(c)
	if err != nil {
		fmt.Fprintf(stderr, "no whole-model decode speedups in the perplexity table: %v\n", err)
		return nil, nil
	}
	ms, ok := src.(interface{ Model() *model.Model })
	if !ok || ms.Model() == nil {
		fmt.Fprintf(stderr, "no whole-model decode speedups in the perplexity table: source %s has no model\n", src.Describe())
		return nil, nil
	}
	m := ms.Model()
	return cost.ModelSpeedups(cs, cost.ModelName(c.Source.Model.Checkpoint, m.Config()), path, cost.TimedModel(m))
}
