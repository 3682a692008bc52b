package datasets

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHFShardedBadInput breaks a sharded synthetic checkpoint in the ways
// a user meets (a truncated shard, a missing tensor, an integer dtype, a
// tensor whose shape disagrees with config.json, a bias the config does not
// imply, an unsupported rope_scaling) and checks each error names the file
// and the tensor or key.
func TestHFShardedBadInput(t *testing.T) {
	fresh := func(t *testing.T) (string, map[string]string) {
		dir := t.TempDir()
		if _, err := WriteSynthHF(dir, tinyShape, SynthOptions{Seed: 1, ShardBytes: 50_000}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, HFIndexFile))
		var ix struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &ix); err != nil {
			t.Fatal(err)
		}
		return dir, ix.WeightMap
	}
	const victim = "model.layers.1.mlp.up_proj.weight"
	// rewrite replaces the shard holding victim by one where edit changed
	// the tensors.
	rewrite := func(t *testing.T, dir, shard string, edit func([]Tensor) []Tensor) {
		p := filepath.Join(dir, shard)
		f, err := ReadSafetensors(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteSafetensors(p, edit(f.Tensors), nil); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string, wm map[string]string)
		want   []string // substrings of the error; "{shard}" is the victim's shard path
	}{
		{"truncated shard", func(t *testing.T, dir string, wm map[string]string) {
			p := filepath.Join(dir, wm[victim])
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()-100); err != nil {
				t.Fatal(err)
			}
		}, []string{"{shard}", "truncated"}},
		{"missing tensor", func(t *testing.T, dir string, wm map[string]string) {
			rewrite(t, dir, wm[victim], func(ts []Tensor) []Tensor {
				var keep []Tensor
				for _, x := range ts {
					if x.Name != victim {
						keep = append(keep, x)
					}
				}
				return keep
			})
		}, []string{"{shard}", victim, HFIndexFile}},
		{"integer dtype", func(t *testing.T, dir string, wm map[string]string) {
			rewrite(t, dir, wm[victim], func(ts []Tensor) []Tensor {
				for i := range ts {
					if ts[i].Name == victim {
						ts[i].DType = I16
					}
				}
				return ts
			})
		}, []string{"{shard}", victim, "I16"}},
		{"shape mismatch", func(t *testing.T, dir string, wm map[string]string) {
			rewrite(t, dir, wm[victim], func(ts []Tensor) []Tensor {
				for i := range ts {
					if ts[i].Name == victim {
						ts[i].Shape = []int{ts[i].Shape[1], ts[i].Shape[0]}
					}
				}
				return ts
			})
		}, []string{"{shard}", victim, "config.json implies [160 64]"}},
		{"unexpected bias", func(t *testing.T, dir string, wm map[string]string) {
			rewrite(t, dir, wm[victim], func(ts []Tensor) []Tensor {
				b, _ := TensorFromFloat32s("model.layers.1.mlp.up_proj.bias", BF16, []int{160}, make([]float32, 160))
				return append(ts, b)
			})
			b, _ := os.ReadFile(filepath.Join(dir, HFIndexFile))
			var ix map[string]any
			json.Unmarshal(b, &ix)
			ix["weight_map"].(map[string]any)["model.layers.1.mlp.up_proj.bias"] = wm[victim]
			if err := WriteJSONAtomic(filepath.Join(dir, HFIndexFile), ix); err != nil {
				t.Fatal(err)
			}
		}, []string{"model.layers.1.mlp.up_proj.bias", "mlp_bias false"}},
		{"rope_scaling yarn", func(t *testing.T, dir string, wm map[string]string) {
			p := filepath.Join(dir, HFConfigFile)
			b, _ := os.ReadFile(p)
			b = []byte(strings.Replace(string(b), `"rope_scaling": null`, `"rope_scaling": {"rope_type": "yarn", "factor": 4}`, 1))
			os.WriteFile(p, b, 0o644)
		}, []string{HFConfigFile, "rope_scaling", "yarn", "only llama3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, wm := fresh(t)
			tc.break_(t, dir, wm)
			_, _, err := LoadHF(dir)
			if err == nil {
				t.Fatal("broken checkpoint loaded")
			}
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "{shard}", filepath.Join(dir, wm[victim]))
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
