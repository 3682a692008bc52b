package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/shared"
)

// runCLI runs the armor command in-process and returns its exit status,
// stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// referenceLosses returns the path of the 64 × 128 reference fixture and the
// proxy losses the authors' implementations recorded for it, by method.
func referenceLosses(t *testing.T) (string, map[string]float64) {
	t.Helper()
	in := shared.Path(t, "fixtures", "reference", "shared_64x128.safetensors")
	raw, err := os.ReadFile(strings.TrimSuffix(in, ".safetensors") + ".json")
	require.NoError(t, err)
	var meta struct {
		Results struct {
			ProxyLoss map[string]float64 `json:"proxy_loss"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(raw, &meta))
	return in, meta.Results.ProxyLoss
}

func TestLayerCommandReproducesReferenceLosses(t *testing.T) {
	in, refLoss := referenceLosses(t)
	for method, key := range map[string]string{"wanda": "wanda", "nowag": "nowag_p", "sparsegpt": "sparsegpt"} {
		code, stdout, stderr := runCLI("layer", "--input", in, "--method", method)
		require.Equal(t, 0, code, stderr)
		var rep map[string]any
		dec := json.NewDecoder(strings.NewReader(stdout))
		require.NoError(t, dec.Decode(&rep))
		assert.False(t, dec.More(), "exactly one JSON object on stdout")
		for _, k := range []string{"method", "pattern", "block_size", "iterations", "proxy_loss", "output_error", "nonzero_fraction", "overhead_fraction", "seconds"} {
			assert.Contains(t, rep, k)
		}
		want := refLoss[key]
		assert.InDelta(t, want, rep["proxy_loss"].(float64), 1e-9*want, method)
		assert.Equal(t, 0.5, rep["nonzero_fraction"])
	}
}

// TestLayerCommandSparseGPTFloat32: --precision float32 runs SparseGPT (and
// the Gram products of H) in float32; the proxy loss stays within the
// float32 tolerance of methods' tests (1e-5 relative) of the float64
// reference.
func TestLayerCommandSparseGPTFloat32(t *testing.T) {
	in, refLoss := referenceLosses(t)
	code, stdout, stderr := runCLI("layer", "--input", in, "--method", "sparsegpt", "--precision", "float32")
	require.Equal(t, 0, code, stderr)
	var rep struct {
		ProxyLoss float64 `json:"proxy_loss"`
		Nonzero   float64 `json:"nonzero_fraction"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	want := refLoss["sparsegpt"]
	assert.InDelta(t, want, rep.ProxyLoss, 1e-5*want)
	assert.Equal(t, 0.5, rep.Nonzero)
}

func TestLayerCommandARMOROutput(t *testing.T) {
	in := shared.Path(t, "fixtures", "reference", "shared_64x128.safetensors")
	out := filepath.Join(t.TempDir(), "pruned.safetensors")
	code, stdout, stderr := runCLI("layer", "--input", in, "--method", "armor", "--iters", "5",
		"--continuous", "exact", "--history", "--output", out, "--dtype", "F64")
	require.Equal(t, 0, code, stderr)
	var rep struct {
		Iterations int       `json:"iterations"`
		BlockSize  int       `json:"block_size"`
		History    []float64 `json:"history"`
		ProxyLoss  float64   `json:"proxy_loss"`
		Overhead   float64   `json:"overhead_fraction"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, 5, rep.Iterations)
	assert.Equal(t, 32, rep.BlockSize)
	require.Len(t, rep.History, 6)
	for k := 1; k < len(rep.History); k++ {
		assert.LessOrEqual(t, rep.History[k], rep.History[k-1], "exact never increases the loss")
	}
	assert.InDelta(t, 32.0*(64+128)/(64*128), rep.Overhead, 1e-12)
	f, err := datasets.ReadSafetensors(out)
	require.NoError(t, err)
	get := func(name string) *mat.Dense {
		m, err := f.Matrix(name)
		require.NoError(t, err, name)
		return m
	}
	var AS, ASB mat.Dense
	AS.Mul(get("A"), get("core"))
	ASB.Mul(&AS, get("B"))
	W := get("W_hat")
	var d mat.Dense
	d.Sub(&ASB, W)
	assert.Less(t, mat.Norm(&d, 2)/mat.Norm(W, 2), 1e-12, "A·core·B = W_hat")
	mask, shape, err := f.Uint8s("mask")
	require.NoError(t, err)
	assert.Equal(t, []int{64, 128}, shape)
	kept := 0
	for _, m := range mask {
		kept += int(m)
	}
	assert.Equal(t, 64*128/2, kept)
}

func TestLayerCommandErrors(t *testing.T) {
	in := shared.Path(t, "fixtures", "reference", "shared_64x128.safetensors")
	dir := t.TempDir()
	noW := filepath.Join(dir, "now.safetensors")
	h, err := datasets.TensorFromFloat64s("hessian_diag", datasets.F64, []int{4}, []float64{1, 1, 1, 1})
	require.NoError(t, err)
	require.NoError(t, datasets.WriteSafetensors(noW, []datasets.Tensor{h}, nil))
	hOnly := filepath.Join(dir, "honly.safetensors")
	w, err := datasets.TensorFromFloat64s("W", datasets.F32, []int{2, 8}, []float64{1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1})
	require.NoError(t, err)
	h8, err := datasets.TensorFromFloat64s("hessian_diag", datasets.F64, []int{8}, []float64{1, 2, 1, 2, 1, 2, 1, 2})
	require.NoError(t, err)
	require.NoError(t, datasets.WriteSafetensors(hOnly, []datasets.Tensor{w, h8}, nil))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no input", []string{"layer", "--method", "wanda"}, "--input is required"},
		{"no method", []string{"layer", "--input", in}, "--method is required"},
		{"unknown method", []string{"layer", "--input", in, "--method", "obs"}, `unknown method "obs"`},
		{"bad pattern", []string{"layer", "--input", in, "--method", "wanda", "--pattern", "4:2"}, "--pattern"},
		{"d_in not a multiple of M", []string{"layer", "--input", in, "--method", "wanda", "--pattern", "1:3"}, "not a multiple of M=3"},
		{"bad block size", []string{"layer", "--input", in, "--method", "armor", "--block-size", "6"}, "block size 6"},
		{"bad selection", []string{"layer", "--input", in, "--method", "armor", "--select", "best"}, `selection "best"`},
		{"bad continuous", []string{"layer", "--input", in, "--method", "armor", "--continuous", "lbfgs"}, `continuous update "lbfgs"`},
		{"bad armor precision", []string{"layer", "--input", in, "--method", "armor", "--precision", "float16"}, `armor precision "float16"`},
		{"bad sparsegpt precision", []string{"layer", "--input", in, "--method", "sparsegpt", "--precision", "float16"}, `sparsegpt precision "float16"`},
		{"missing file", []string{"layer", "--input", filepath.Join(dir, "nope.safetensors"), "--method", "wanda"}, "nope.safetensors"},
		{"no W", []string{"layer", "--input", noW, "--method", "wanda"}, `no tensor "W"`},
		{"sparsegpt without H", []string{"layer", "--input", hOnly, "--method", "sparsegpt"}, `needs tensor "X" or "H"`},
		{"bad dtype", []string{"layer", "--input", in, "--method", "wanda", "--dtype", "I8"}, "--dtype"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			assert.NotEqual(t, 0, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
	// Without X or H the output error is null, not a made-up number.
	code, stdout, stderr := runCLI("layer", "--input", hOnly, "--method", "wanda")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"output_error":null`)
}
