package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Values that used to be taken silently as something else (the default, a
// truncated integer, no override at all, an empty path component).
func TestStrictValues(t *testing.T) {
	const unset = "ARMOR_TEST_SURELY_UNSET_VAR"
	require.NoError(t, os.Unsetenv(unset))
	t.Setenv("ARMOR_TEST_SET_VAR", "res")
	withSyn := func(kv string) string {
		return strings.Replace(good, "    seed: 1\n", "    seed: 1\n    "+kv+"\n", 1)
	}
	tests := []struct {
		name string
		yaml string
		sets []string
		want []string // substrings of the error; nil: must load
	}{
		{"samples 0", withSyn("samples: 0"), nil, []string{"x.yaml:5:", "source.synthetic.samples", "0 is not allowed", "≥ 1"}},
		{"scale 0", withSyn("scale: 0.0"), nil, []string{"x.yaml:5:", "source.synthetic.scale", "0 is not allowed"}},
		{"sequences 0", good + "calibration: {sequences: 0}\n", nil, []string{"calibration.sequences", "0 is not allowed"}},
		{"lazy_block 0", good + "sparsegpt: {lazy_block: 0}\n", nil, []string{"sparsegpt.lazy_block", "0 is not allowed"}},
		{"override samples 0", good, []string{"source.synthetic.samples=0"}, []string{"--set source.synthetic.samples", "0 is not allowed"}},
		{"samples absent is default", good, nil, nil},
		{"iters fraction", strings.Replace(good, "iters: [0, 5]", "iters: [1.5]", 1), nil, []string{"x.yaml:10:", "armor.iters[0]", "want an integer", `"1.5"`}},
		{"override iters fraction", good, []string{"armor.iters=[1.5]"}, []string{"armor.iters[0]", "want an integer"}},
		{"iters whole float", strings.Replace(good, "iters: [0, 5]", "iters: [2.0]", 1), nil, nil},
		{"override unclosed list", good, []string{"armor.iters=[1,"}, []string{"override", `"armor.iters=[1,"`, "unclosed"}},
		{"override unclosed later", good, []string{"seed=1 armor.iters=[1,"}, []string{`"armor.iters=[1,"`, "unclosed"}},
		{"undefined var output_dir", good + "output_dir: $" + unset + "/out\n", nil, []string{"x.yaml:11:", "output_dir", "$" + unset, "not set"}},
		{"undefined var braces", "experiment: t\nsource:\n  safetensors:\n    files: [\"${" + unset + "}/a.safetensors\"]\nmethods: [wanda]\n", nil, []string{"source.safetensors.files[0]", "$" + unset, "not set"}},
		{"defined var", good + "output_dir: $ARMOR_TEST_SET_VAR/out\n", nil, nil},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "x.yaml")
			require.NoError(t, os.WriteFile(p, []byte(tc.yaml), 0o644))
			c, err := Load(p, tc.sets...)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err, "loaded as %+v", c)
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
		})
	}
}

func TestDefinedVarExpandsInOutputDir(t *testing.T) {
	t.Setenv("ARMOR_TEST_SET_VAR", "res")
	c, err := Parse("x.yaml", []byte(good+"output_dir: $ARMOR_TEST_SET_VAR/out\n"))
	require.NoError(t, err)
	assert.Equal(t, "res/out", c.OutputDir)
}
