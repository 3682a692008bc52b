package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/pipeline"
)

// NodeLlamaCppEnv names the node_modules directory that holds the npm
// package node-llama-cpp (a prebuilt llama.cpp); `make test-gguf` installs
// it and sets this variable.
const NodeLlamaCppEnv = "ARMOR_NODE_LLAMA_CPP_DIR"

// llamaCpp returns node's path and the node_modules directory, or skips
// the test saying what is missing.
func llamaCpp(t *testing.T) (string, string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIP: node is not installed, the GGUF export was NOT checked with llama.cpp (apt-get install -y nodejs npm; then make test-gguf)")
	}
	dir := os.Getenv(NodeLlamaCppEnv)
	if dir == "" {
		t.Skipf("SKIP: $%s is not set, the GGUF export was NOT checked with llama.cpp: run make test-gguf (it installs node-llama-cpp with npm)", NodeLlamaCppEnv)
	}
	if _, err := os.Stat(filepath.Join(dir, "node-llama-cpp", "package.json")); err != nil {
		t.Skipf("SKIP: no node-llama-cpp under $%s=%s, the GGUF export was NOT checked with llama.cpp: run make test-gguf", NodeLlamaCppEnv, dir)
	}
	return node, dir
}

type llamaCppResult struct {
	Perplexity float64 `json:"perplexity"`
	Scored     int     `json:"scored"`
	Tokens     [][]int `json:"tokens"`
	Meta       struct {
		Vocab        string `json:"vocab"`
		Architecture string `json:"architecture"`
	} `json:"meta"`
}

// runLlamaCpp evaluates windows and tokenizes texts with llama.cpp.
func runLlamaCpp(t *testing.T, node, modules, gguf string, windows [][]int, texts []string) llamaCppResult {
	t.Helper()
	in := filepath.Join(t.TempDir(), "input.json")
	b, err := json.Marshal(map[string]any{"windows": windows, "texts": texts})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(in, b, 0o644))
	script, err := filepath.Abs(filepath.Join("testdata", "llamacpp_check.mjs"))
	require.NoError(t, err)
	cmd := exec.Command(node, script, gguf, in)
	cmd.Env = append(os.Environ(), "NODE_LLAMA_CPP_DIR="+modules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "llama.cpp via node-llama-cpp failed:\n%s", stderr.String())
	var res llamaCppResult
	require.NoError(t, json.Unmarshal(out, &res), "output %q", out)
	return res
}

// TestGGUFMatchesLlamaCpp exports stories260K (dense, and ARMOR-pruned
// through `armor prune --gguf`) to GGUF, loads each in a real llama.cpp and
// checks that its perplexity on TinyStories windows equals `armor eval`'s
// to 1e-3 (relative), and that llama.cpp tokenizes text like armor does.
func TestGGUFMatchesLlamaCpp(t *testing.T) {
	node, modules := llamaCpp(t)
	ckpt := shared.Path(t, "data", "models", "stories260K", "stories260K.bin")
	tok := shared.Path(t, "data", "models", "stories260K", "tok512.bin")
	text := shared.Path(t, "data", "text", "tinystories", "tinystories_val.txt")
	t.Setenv("ARMOR_DATA", filepath.Dir(shared.Path(t, "data", "README.md")))
	dir := t.TempDir()
	const window, nwin = 128, 4

	dense := filepath.Join(dir, "dense.gguf")
	armor(t, "convert", "--in", ckpt, "--to", "gguf", "--out", dense)
	pruned := filepath.Join(dir, "pruned")
	armor(t, "prune", "--method", "armor", "--block-size", "8", "--iters", "5", "--cal-windows", "4", "--cal-length", "64",
		"--no-eval", "--out", pruned, "--gguf", "F32")

	enc, err := datasets.LoadTokenizerBin(tok)
	require.NoError(t, err)
	lines, err := datasets.ReadLines(text)
	require.NoError(t, err)
	stream := pipeline.Stream(enc, lines, 1)
	var windows [][]int
	for w := 0; w < nwin; w++ {
		windows = append(windows, stream[w*window:(w+1)*window])
	}
	var texts []string
	for _, l := range lines {
		if len(texts) == 200 {
			break
		}
		if l != "" {
			texts = append(texts, l)
		}
	}

	cases := []struct{ name, gguf, model string }{
		{"dense", dense, ckpt},
		{"armor", filepath.Join(pruned, pipeline.GGUFFile), filepath.Join(pruned, "hf")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := evalJSON(t, "--model", c.model, "--tokenizer", tok, "--text", text, "--window", "128", "--max-windows", "4")
			got := runLlamaCpp(t, node, modules, c.gguf, windows, texts)
			assert.Equal(t, "llama", got.Meta.Vocab)
			assert.Equal(t, "llama", got.Meta.Architecture)
			assert.Equal(t, int(want["predicted_tokens"]), got.Scored)
			rel := math.Abs(got.Perplexity/want["perplexity"] - 1)
			t.Logf("%s: perplexity armor eval %.6f, llama.cpp %.6f (relative difference %.2e) on %d windows of %d tokens",
				c.name, want["perplexity"], got.Perplexity, rel, nwin, window)
			assert.Less(t, rel, 1e-3)
			require.Len(t, got.Tokens, len(texts))
			bad := 0
			for i, s := range texts {
				if ids := enc.Encode(s, false, false); !assert.ObjectsAreEqual(ids, got.Tokens[i]) {
					if bad < 3 {
						t.Errorf("line %d %q: armor %v, llama.cpp %v", i, s, ids, got.Tokens[i])
					}
					bad++
				}
			}
			assert.Zero(t, bad, "lines tokenized differently by llama.cpp")
		})
	}
}
