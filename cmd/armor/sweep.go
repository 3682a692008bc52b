package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/source"
	"github.com/prunebench/armor/harness/sweep"
)

func init() {
	commands["sweep"] = command{summary: "run the experiment of a YAML config (resumable; --shard i/n)", run: runSweep}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseShard reads "i/n" with 0 ≤ i < n (0/1 when empty).
func parseShard(s string) (int, int, error) {
	if s == "" {
		return 0, 1, nil
	}
	return parseShardFlag("shard", s)
}

// experimentDir is where the results of c go.
func experimentDir(c *config.Config) string { return filepath.Join(c.OutputDir, c.Experiment) }

// shardFile is the cells file of shard i of n (the main file when n = 1).
func shardFile(dir string, i, n int) string {
	if n <= 1 {
		return filepath.Join(dir, "cells.jsonl")
	}
	return filepath.Join(dir, fmt.Sprintf("cells.shard-%d-of-%d.jsonl", i, n))
}

func runSweep(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "experiment config (YAML), e.g. configs/synthetic.yaml")
	var sets stringList
	fs.Var(&sets, "set", "override config keys: \"armor.iters=100 seed=1\" (repeatable)")
	workers := fs.Int("workers", -1, "cells run at once (default: run.workers of the config, 0 = all cores)")
	shard := fs.String("shard", "", "run only shard i of n (\"i/n\"), into cells.shard-i-of-n.jsonl; combine with `armor merge`")
	progress := fs.String("progress", "auto", "progress display: auto (bar on a terminal, lines otherwise), bar, lines or none")
	noTables := fs.Bool("no-tables", false, "do not render tables and plots at the end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkNonNegative(fs, "workers"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *cfgPath == "" {
		return errors.New("flag --config is required")
	}
	si, sn, err := parseShard(*shard)
	if err != nil {
		return err
	}
	c, err := config.Load(*cfgPath, sets...)
	if err != nil {
		return err
	}
	if *workers >= 0 {
		c.Run.Workers = *workers
	}
	src, err := source.Open(c)
	if err != nil {
		return err
	}
	if n := src.Note(); n != "" {
		fmt.Fprintf(stderr, "NOTE: %s\n", n)
	}
	all, err := src.Layers()
	if err != nil {
		return err
	}
	layers, err := source.Select(all, c.Layers)
	if err != nil {
		return c.Errorf("layers", "%v", err)
	}
	jobs, notes, err := sweep.Plan(c, layers)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	dir := experimentDir(c)
	// Finished cells: the main file and, for a shard, its own file.
	main, _, err := cells.Read(filepath.Join(dir, "cells.jsonl"))
	if err != nil {
		return err
	}
	out := shardFile(dir, si, sn)
	lock, err := cells.Acquire(out)
	if err != nil {
		return err
	}
	defer lock.Release()
	store, have, err := cells.Open(out)
	if err != nil {
		return err
	}
	defer store.Close()
	done := map[string]bool{}
	for _, cl := range append(main, have...) {
		done[cl.Key] = true
	}
	if err := writeResolvedConfig(dir, c); err != nil {
		return err
	}

	mode := *progress
	isTerm := false
	if f, ok := stderr.(*os.File); ok {
		isTerm = term.IsTerminal(int(f.Fd()))
	}
	opt := sweep.Options{Experiment: c.Experiment, Workers: c.Run.Workers, Shard: si, Shards: sn, Progress: stderr}
	switch mode {
	case "auto":
		opt.Terminal = isTerm
	case "bar":
		opt.Terminal = true
	case "lines":
	case "none":
		opt.Progress = nil
	default:
		return fmt.Errorf("flag --progress %q: want auto, bar, lines or none", mode)
	}
	fmt.Fprintf(stderr, "%s: %d layers, %d cells planned", c.Experiment, len(layers), len(jobs))
	if sn > 1 {
		fmt.Fprintf(stderr, " (shard %d/%d)", si, sn)
	}
	fmt.Fprintf(stderr, "; source %s; writing %s\n", src.Describe(), out)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The watcher reports an interruption only: when the sweep ends it is
	// told so and waited for before stop cancels the context, which would
	// otherwise look like one (and print after the run's last line).
	finished, watcher := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watcher)
		select {
		case <-finished:
			return
		case <-ctx.Done():
		}
		stop() // a second Ctrl-C kills the process at once
		fmt.Fprintln(stderr, "\ninterrupted: finishing the running cells (Ctrl-C again to abort; finished cells are kept)")
	}()
	defer func() {
		close(finished)
		<-watcher
		stop()
	}()
	sum, runErr := sweep.Run(ctx, src, jobs, done, store, opt)
	fmt.Fprintf(stderr, "%d cells in this run, %d already done, %d failed, %s\n", sum.Ran, sum.Skipped, sum.Failed, sum.Elapsed.Round(1e7))
	if runErr != nil {
		return runErr
	}
	// Whole-model cells (perplexity table); only for model sources, only
	// in the unsharded run.
	if sn <= 1 {
		if err := runModelCells(ctx, c, src, done, store, stderr); err != nil {
			return err
		}
	}
	if *noTables || sn > 1 {
		if sn > 1 {
			fmt.Fprintf(stderr, "shard %d/%d done; when every shard is, run: armor merge --config %s\n", si, sn, *cfgPath)
		}
		return nil
	}
	return renderOutputs(c, dir, stdout, stderr)
}

// writeResolvedConfig records the effective config as run (after
// overrides), re-runnable as is (see effectiveConfig).
func writeResolvedConfig(dir string, c *config.Config) error { return writeEffectiveConfig(dir, c) }
