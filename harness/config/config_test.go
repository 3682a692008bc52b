package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const good = `experiment: t
source:
  synthetic:
    seed: 1
    shapes:
      - {name: a, d_out: 8, d_in: 16}
methods: [wanda, armor]
armor:
  block_size: [4, 8]
  iters: [0, 5]
`

func TestLoadGood(t *testing.T) {
	c, err := Parse("x.yaml", []byte(good))
	require.NoError(t, err)
	assert.Equal(t, "t", c.Experiment)
	assert.Equal(t, []string{"2:4"}, c.Pattern)
	assert.Equal(t, []int{4, 8}, c.ARMOR.BlockSize)
	assert.Equal(t, []uint64{0}, c.Seed)
	assert.Equal(t, 256, c.Source.Synthetic.Samples)
	assert.Equal(t, 9, c.Line("armor.block_size"))
	assert.Equal(t, "float64", c.SparseGPT.Precision)
	assert.True(t, c.Outputs.CostEnabled(), "outputs.cost defaults to true")
	off, err := Parse("x.yaml", []byte(good), "outputs.cost=false")
	require.NoError(t, err)
	assert.False(t, off.Outputs.CostEnabled())
}

func TestOverrides(t *testing.T) {
	c, err := Parse("x.yaml", []byte(good), "armor.iters=100 seed=[1, 2]", "methods=armor armor.lr=1e-3")
	require.NoError(t, err)
	assert.Equal(t, []int{100}, c.ARMOR.Iters)
	assert.Equal(t, []uint64{1, 2}, c.Seed)
	assert.Equal(t, []string{"armor"}, c.Methods)
	assert.Equal(t, []float64{1e-3}, c.ARMOR.LR)
	assert.Equal(t, 0, c.Line("armor.iters"))
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		yaml string
		sets []string
		want []string // substrings of the single error expected
	}{
		{"unknown key", strings.Replace(good, "block_size:", "blocksize:", 1), nil, []string{"x.yaml:9:", "armor.blocksize", `did you mean "block_size"`}},
		{"unknown key other level", good + "iters: [3]\n", nil, []string{"x.yaml:11:", "iters: unknown key", `"armor.iters"`}},
		{"unknown top key", good + "colour: red\n", nil, []string{"x.yaml:11:", "colour: unknown key", "known keys"}},
		{"wrong type", strings.Replace(good, "iters: [0, 5]", "iters: [0, many]", 1), nil, []string{"x.yaml:10:", "armor.iters[1]", "want an integer", `"many"`}},
		{"wrong kind", strings.Replace(good, "seed: 1", "seed: [1]", 1), nil, []string{"x.yaml:4:", "source.synthetic.seed", "want a non-negative integer"}},
		{"negative seed", good + "seed: -1\n", nil, []string{"x.yaml:11:", "seed[0]", "non-negative"}},
		{"block size small", strings.Replace(good, "[4, 8]", "[2, 8]", 1), nil, []string{"x.yaml:9:", "armor.block_size[0]", "armor block size 2 must be a positive multiple of M=4"}},
		{"block size not multiple", strings.Replace(good, "[4, 8]", "[4, 10]", 1), nil, []string{"x.yaml:9:", "armor.block_size[1]", "10 must be a positive multiple of M=4"}},
		{"block size vs M", good + "pattern: [\"2:8\"]\n", nil, []string{"armor.block_size[0]", "4 must be a positive multiple of M=8"}},
		{"N >= M", good + "pattern: [\"4:4\"]\n", nil, []string{"x.yaml:11:", "pattern[0]", "0 < N < M"}},
		{"bad pattern", good + "pattern: 2-4\n", nil, []string{"pattern[0]", "want N:M"}},
		{"missing file", "experiment: t\nsource:\n  safetensors:\n    files: [nope.safetensors]\nmethods: [wanda]\n", nil, []string{"x.yaml:4:", "source.safetensors.files[0]", "no such file"}},
		{"missing checkpoint", "experiment: t\nsource:\n  model:\n    checkpoint: nope.bin\nmethods: [wanda]\n", nil, []string{"x.yaml:4:", "source.model.checkpoint", "fallback: builtin"}},
		{"empty sweep", strings.Replace(good, "methods: [wanda, armor]", "methods: []", 1), nil, []string{"x.yaml:7:", "methods", "empty sweep"}},
		{"empty axis", strings.Replace(good, "iters: [0, 5]", "iters: []", 1), nil, []string{"x.yaml:10:", "armor.iters", "empty sweep"}},
		{"no methods", strings.Replace(good, "methods: [wanda, armor]\n", "", 1), nil, []string{"methods", "empty sweep"}},
		{"unknown method", strings.Replace(good, "wanda", "wandda", 1), nil, []string{"x.yaml:7:", "methods[0]", `did you mean "wanda"`}},
		{"unknown select", good + "  select: [gradiant]\n", nil, []string{"armor.select[0]", `did you mean "gradient"`}},
		{"unknown precision", good + "  precision: [flaot32]\n", nil, []string{"armor.precision[0]", `did you mean "float32"`}},
		{"unknown sparsegpt precision", good + "sparsegpt:\n  precision: flaot32\n", nil, []string{"x.yaml:12:", "sparsegpt.precision", `did you mean "float32"`}},
		{"sparsegpt precision list", good + "sparsegpt:\n  precision: [float32]\n", nil, []string{"sparsegpt.precision"}},
		{"float32 without adam", good + "  precision: [float32]\n  continuous: [exact]\n", nil, []string{"armor.precision", "adam continuous update only"}},
		{"no source", "experiment: t\nmethods: [wanda]\n", nil, []string{"source", "exactly one"}},
		{"two sources", strings.Replace(good, "source:\n", "source:\n  safetensors: {files: [a]}\n", 1), nil, []string{"source", "exactly one"}},
		{"d_in not multiple of M", strings.Replace(good, "d_in: 16", "d_in: 18", 1), nil, []string{"x.yaml:6:", "shapes[0].d_in", "not a multiple of M=4"}},
		{"bad experiment name", strings.Replace(good, "experiment: t", "experiment: a/b", 1), nil, []string{"x.yaml:1:", "experiment"}},
		{"duplicate key", good + "methods: [wanda]\n", nil, []string{"x.yaml:11:", "methods: key given twice"}},
		{"override unknown key", good, []string{"armor.itres=3"}, []string{"--set armor.itres", `did you mean "iters"`}},
		{"override wrong type", good, []string{"armor.iters=lots"}, []string{"--set armor.iters[0]", "want an integer"}},
		{"override bad value", good, []string{"armor.block_size=6"}, []string{"--set armor.block_size[0]", "6 must be a positive multiple of M=4"}},
		{"override no equals", good, []string{"armor.iters"}, []string{"want key=value"}},
		{"not yaml", "experiment: [\n", nil, []string{"x.yaml", "not valid YAML"}},
		{"empty file", "", nil, []string{"x.yaml", "empty"}},
		{"bad output format", good + "outputs: {formats: [markdwn]}\n", nil, []string{"outputs.formats[0]", `did you mean "markdown"`}},
		{"cost not bool", good + "outputs: {cost: sometimes}\n", nil, []string{"x.yaml:11:", "outputs.cost", "want true or false"}},
		{"override cost not bool", good, []string{"outputs.cost=3"}, []string{"--set outputs.cost", "want true or false"}},
		{"perplexity without model", good + "evaluation: {perplexity: [wiki.txt]}\n", nil, []string{"evaluation.perplexity", "model source"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "x.yaml")
			require.NoError(t, os.WriteFile(p, []byte(tc.yaml), 0o644))
			_, err := Load(p, tc.sets...)
			require.Error(t, err)
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
		})
	}
}

func TestSplitOverrides(t *testing.T) {
	got, err := SplitOverrides("a=1  b=[1, 2] c={x: 1}", "d=2")
	require.NoError(t, err)
	assert.Equal(t, []string{"a=1", "b=[1, 2]", "c={x: 1}", "d=2"}, got)
}
