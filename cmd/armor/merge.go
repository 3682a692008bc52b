package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
)

func init() {
	commands["merge"] = command{summary: "combine shard outputs (and other cells files) into one cells.jsonl", run: runMerge}
}

func runMerge(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "merge results/<experiment>/cells.shard-*.jsonl of this config into its cells.jsonl")
	out := fs.String("out", "", "write the merged cells here (default with --config: its cells.jsonl)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	inputs := fs.Args()
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		dir := experimentDir(c)
		main := filepath.Join(dir, "cells.jsonl")
		shards, err := filepath.Glob(filepath.Join(dir, "cells.shard-*.jsonl"))
		if err != nil {
			return err
		}
		inputs = append(append([]string{main}, shards...), inputs...)
		if *out == "" {
			*out = main
		}
	}
	if *out == "" || len(inputs) == 0 {
		return errors.New("give --config CONFIG, or --out FILE and the cells files to merge")
	}
	lock, err := cells.Acquire(*out)
	if err != nil {
		return err
	}
	defer lock.Release()
	var sets [][]*cells.Cell
	n := 0
	for _, in := range inputs {
		cs, _, err := cells.Read(in)
		if err != nil {
			return err
		}
		n += len(cs)
		sets = append(sets, cs)
	}
	merged, dups, err := cells.Merge(sets...)
	if err != nil {
		return err
	}
	if err := cells.WriteAll(*out, merged); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "merged %d cells from %d file(s) into %s: %d unique, %d duplicates dropped\n", n, len(inputs), *out, len(merged), dups)
	return nil
}
