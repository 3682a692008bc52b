package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/prunebench/armor/internal/progress"
	"github.com/prunebench/armor/internal/shared"

	"github.com/stretchr/testify/require"
)

func TestCLIConventions(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		code       int
		stdoutHas  []string
		stderrHas  []string
		quietError bool // nothing on stderr
	}{
		{"-h", []string{"-h"}, 0, []string{"usage: armor", "prune", "eval"}, nil, true},
		{"--help", []string{"--help"}, 0, []string{"usage: armor"}, nil, true},
		{"help", []string{"help"}, 0, []string{"usage: armor"}, nil, true},
		{"help eval", []string{"help", "eval"}, 0, []string{"armor eval", "-max-windows", "-progress"}, nil, true},
		{"help prune", []string{"help", "prune"}, 0, []string{"-method", "-progress", "-block-size"}, nil, true},
		{"prune --help", []string{"prune", "--help"}, 0, []string{"-method"}, nil, true},
		{"eval -h after flags", []string{"eval", "--window", "8", "-h"}, 0, []string{"-text"}, nil, true},
		{"--version", []string{"--version"}, 0, []string{"armor ", "commit: ", "go: go1.", "blas: "}, nil, true},
		{"no args", nil, 2, nil, []string{"usage: armor"}, false},
		{"unknown", []string{"frobnicate"}, 2, nil, []string{"unknown subcommand \"frobnicate\""}, false},
		{"help unknown", []string{"help", "frobnicate"}, 2, nil, []string{"unknown subcommand"}, false},
		{"bad flag", []string{"eval", "--no-such-flag"}, 1, nil, []string{"no-such-flag"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(c.args, &out, &errOut)
			require.Equal(t, c.code, code, "stdout %q stderr %q", out.String(), errOut.String())
			for _, s := range c.stdoutHas {
				require.Contains(t, out.String(), s)
			}
			for _, s := range c.stderrHas {
				require.Contains(t, errOut.String(), s)
			}
			if c.quietError {
				require.Empty(t, errOut.String())
			}
		})
	}
}

// TestProgressOnStderr checks that prune and eval draw their bars on stderr
// with --progress (stderr is a buffer, not a terminal) and stay quiet
// without it, and that stdout keeps only the JSON result.
func TestProgressOnStderr(t *testing.T) {
	ckpt := shared.Path(t, "data", "models", "stories260K", "stories260K.bin")
	tok := shared.Path(t, "data", "models", "stories260K", "tok512.bin")
	text := shared.Path(t, "data", "text", "tinystories", "tinystories_val.txt")
	t.Setenv("ARMOR_DATA", filepath.Dir(shared.Path(t, "data", "README.md")))
	t.Setenv(progress.DelayEnv, "0s")
	evalArgs := []string{"eval", "--model", ckpt, "--tokenizer", tok, "--text", text, "--max-windows", "3", "--window", "64"}
	pruneArgs := []string{"prune", "--method", "magnitude", "--cal-windows", "2", "--cal-length", "32", "--max-windows", "2", "--window", "64", "--wikitext", "none"}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"eval", evalArgs, []string{"perplexity", "3/3", "windows"}},
		{"prune", pruneArgs, []string{"pruning (magnitude)", "5/5", "blocks", "pruned perplexity"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			require.Equal(t, 0, run(append(c.args, "--progress"), &out, &errOut), errOut.String())
			for _, w := range c.want {
				require.Contains(t, errOut.String(), w)
			}
			require.True(t, json.Valid(out.Bytes()), "stdout is the JSON result only: %q", out.String())
			out.Reset()
			errOut.Reset()
			require.Equal(t, 0, run(c.args, &out, &errOut), errOut.String())
			require.NotContains(t, errOut.String(), "windows/s")
			require.NotContains(t, errOut.String(), "blocks/s")
		})
	}
}
