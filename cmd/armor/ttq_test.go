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
	for _, s := range []string{"adam:10", "adam/x:10", "adam/1:0", "sgd/1:10", "exact/all/relax=2:5", "exact/all/foo=1:5",
		"exact/all/cg=0:5", "exact/all/sweeps=x:5", "exact/all/extrap=1:5", "exact/all/f32:5", "adam/1/f32=1:5"} {
		code, _, stderr := runCLI("ttq", "--d-out", "8", "--d-in", "16", "--schedules", s, "--out", t.TempDir())
		assert.NotEqual(t, 0, code, s)
		assert.NotEmpty(t, stderr, s)
	}
}

func TestTTQParseSchedules(t *testing.T) {
	cases := []struct {
		in   string
		want ttqSchedule
	}{
		{"adam/1:2000", ttqSchedule{Continuous: "adam", Groups: 1, Iters: 2000}},
		{"exact/all:40", ttqSchedule{Continuous: "exact", Groups: 0, Iters: 40}},
		{"exact/all/v=1000/relax=1.7/extrap:30", ttqSchedule{Continuous: "exact", Iters: 30, ValueEvery: 1000, Relax: 1.7, Extrap: true}},
		{"gd/64/sweeps=2/cg=3:10", ttqSchedule{Continuous: "gd", Groups: 64, Iters: 10, Sweeps: 2, CGIters: 3}},
		{"adam/1/f32:2000", ttqSchedule{Continuous: "adam", Groups: 1, Iters: 2000, Float32: true}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSchedules(tc.in)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, tc.want, got[0])
			assert.Equal(t, tc.in, got[0].String(), "String round-trips")
		})
	}
}

// TestTTQGivenTarget checks --target and --ref-seconds: every schedule,
// the first included, is compared with the given loss and time.
func TestTTQGivenTarget(t *testing.T) {
	code, stdout, stderr := runCLI("ttq", "--d-out", "16", "--d-in", "32", "--samples", "64", "--block-size", "8",
		"--schedules", "exact/all/v=1000/relax=1.7/extrap:5", "--target", "1e9", "--ref-seconds", "100", "--out", t.TempDir())
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "target = given (1e+09; reference time 100.00 s)")
	// A target above the starting loss is reached at time 0: no finite speed-up.
	assert.Contains(t, stdout, "| 0.00 | — |")
}
