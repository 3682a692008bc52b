package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/cells"
)

// While a results directory's cells file is locked (as by a running sweep),
// a second sweep, tables or merge on it fails at once, naming the directory
// and the holder's PID, and writes no cell.
func TestSecondSweepOnSameDirRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "")
	exp := filepath.Join(dir, "results", "test")
	main := filepath.Join(exp, "cells.jsonl")
	held, err := cells.Acquire(main)
	require.NoError(t, err)
	for _, args := range [][]string{
		{"sweep", "--config", cfg, "--progress", "none"},
		{"tables", "--config", cfg},
		{"merge", "--config", cfg},
	} {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		assert.NotEqual(t, 0, code, "armor %s ran while the directory was locked", strings.Join(args, " "))
		assert.Contains(t, errb.String(), exp, args[0])
		assert.Contains(t, errb.String(), fmt.Sprintf("PID %d", os.Getpid()), args[0])
	}
	cs, _, err := cells.Read(main)
	require.NoError(t, err)
	assert.Empty(t, cs, "a refused sweep wrote cells")
	// Shards lock their own files, so they still run side by side.
	armor(t, "sweep", "--config", cfg, "--progress", "none", "--shard", "0/2")
	require.NoError(t, held.Release())
	armor(t, "sweep", "--config", cfg, "--progress", "none", "--no-tables")
}

// tables on a config whose results directory does not exist says so and
// does not create it (taking the lock would have).
func TestTablesWithoutResultsDir(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "")
	var out, errb bytes.Buffer
	assert.NotEqual(t, 0, run([]string{"tables", "--config", cfg}, &out, &errb))
	assert.Contains(t, errb.String(), filepath.Join(dir, "results", "test"))
	assert.NoDirExists(t, filepath.Join(dir, "results"))
}
