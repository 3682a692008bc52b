package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTTQWritesTableCSVAndPlots(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runCLI("ttq", "--d-out", "16", "--d-in", "32", "--samples", "64", "--block-size", "8",
		"--schedules", "adam/1:20,exact/4:5", "--out", dir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "| adam/1:20 | 20 |")
	assert.Contains(t, stdout, "| exact/4:5 | 5 |")
	for _, f := range []string{"ttq.md", "ttq.csv", "ttq.png", "ttq.svg"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		assert.Positive(t, st.Size(), f)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "ttq.csv"))
	require.NoError(t, err)
	// Header plus 21 + 6 history rows.
	assert.Len(t, strings.Split(strings.TrimSpace(string(csv)), "\n"), 1+21+6)
}

func TestTTQScheduleErrors(t *testing.T) {
	for _, s := range []string{"adam:10", "adam/x:10", "adam/1:0", "sgd/1:10"} {
		code, _, stderr := runCLI("ttq", "--d-out", "8", "--d-in", "16", "--schedules", s, "--out", t.TempDir())
		assert.NotEqual(t, 0, code, s)
		assert.NotEmpty(t, stderr, s)
	}
}
