package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/methods"
)

// TestKnobsCoverSchema: every key of the armor and sparsegpt sections, and
// the seed axis, is a knob, and every knob is a key of the schema, so a
// setting cannot be added to the YAML without saying how it reaches the
// method and the cell key.
func TestKnobsCoverSchema(t *testing.T) {
	want := map[string]bool{"seed": true}
	for prefix, typ := range map[string]reflect.Type{"armor.": reflect.TypeOf(ARMOR{}), "sparsegpt.": reflect.TypeOf(SparseGPT{})} {
		for i := range typ.NumField() {
			want[prefix+yamlName(typ.Field(i))] = true
		}
	}
	got := map[string]bool{}
	for _, name := range KnobMethods() {
		for _, k := range Knobs[name].Knobs {
			assert.False(t, got[k.Key], "knob %s defined twice", k.Key)
			got[k.Key] = true
		}
	}
	assert.Equal(t, want, got)
}

// TestProduct: the last list varies fastest; an empty list gives nothing,
// no lists one empty combination.
func TestProduct(t *testing.T) {
	tests := []struct {
		lists [][]int
		want  [][]int
	}{
		{[][]int{{0, 1}, {0, 2}}, [][]int{{0, 0}, {0, 2}, {1, 0}, {1, 2}}},
		{[][]int{{3}, {0, 1, 2}, {5}}, [][]int{{3, 0, 5}, {3, 1, 5}, {3, 2, 5}}},
		{[][]int{{0, 1}, {}}, nil},
		{nil, [][]int{{}}},
	}
	for _, tc := range tests {
		var got [][]int
		Product(tc.lists, func(idx []int) { got = append(got, append([]int{}, idx...)) })
		assert.Equal(t, tc.want, got, "%v", tc.lists)
	}
}

// TestKnobKeyRoundTrip: reading a cell's key parameters back gives the
// method configuration the cell was planned with, for every value of every
// knob, including the ones the key encodes (groups per tile, precision).
func TestKnobKeyRoundTrip(t *testing.T) {
	c, err := Parse("x.yaml", []byte(good), "methods=[sparsegpt,armor] seed=[0,9] armor.lr=[1.0e-4,2.0e-3]",
		"armor.select=[gradient,greedy,random] armor.continuous=[adam,gd,exact] armor.patience=[0,100]",
		"armor.groups_per_tile=[1,0,3] armor.precision=[float64,float32] sparsegpt.precision=float32 sparsegpt.lazy_block=64")
	require.NoError(t, err)
	for _, name := range KnobMethods() {
		mk := Knobs[name]
		n := 0
		Product(mk.All(c), func(idx []int) {
			planned := mk.Configure(c, methods.Pattern24, idx)
			back := methods.DefaultConfig()
			mk.FromKey(mk.ToKey(planned), &back)
			assert.Equal(t, planned, back, "%s %v", name, idx)
			n++
		})
		assert.Positive(t, n)
	}
	// The encodings that keep keys of older sweeps: defaults leave the field out.
	mk := Knobs["armor"]
	def := methods.DefaultConfig()
	p := mk.ToKey(def)
	assert.Equal(t, 0, p.GroupsPerTile)
	assert.Equal(t, "", p.Precision)
	every := def
	every.ARMOR.GroupsPerTile = 0
	assert.Equal(t, -1, mk.ToKey(every).GroupsPerTile)
}

// TestKnobErrors: values the method rejects are reported at their key, once,
// with the method's message.
func TestKnobErrors(t *testing.T) {
	tests := []struct {
		name string
		sets string
		want []string // one error each, in order
	}{
		{"float32 without adam", "armor.precision=[float32] armor.continuous=[exact]",
			[]string{`--set armor.precision[0]: armor precision float32 is available for the adam continuous update only, not "exact"`}},
		{"float32 with some adam", "armor.precision=[float32,float64] armor.continuous=[gd,adam]", nil},
		{"N above 8", `pattern=["9:16"] armor.block_size=[16]`, []string{"--set pattern[0]: no armor setting of this config works with pattern 9:16: armor supports N ≤ 8"}},
		{"N above 8 without armor", `methods=[wanda] pattern=["9:16"] armor.block_size=[16] sparsegpt.lazy_block=16`, nil},
		{"negative patience", "armor.patience=[100,-1]", []string{"--set armor.patience[1]: -1 must be ≥ 0 (0 disables early stopping)"}},
		{"negative groups", "armor.groups_per_tile=[-2]", []string{"--set armor.groups_per_tile[0]: armor groups per tile -2 must be ≥ 0"}},
		{"negative lr", "armor.lr=[-1]", []string{"--set armor.lr[0]: armor learning rate -1 must be ≥ 0"}},
		{"select typo", "armor.select=[greedi]", []string{`--set armor.select[0]: armor group selection "greedi": want gradient, greedy or random (did you mean "greedy"?)`}},
		{"two patterns", `pattern=["2:4","2:8"]`, []string{"x.yaml:9: armor.block_size[0]: armor block size 4 must be a positive multiple of M=8 (pattern 2:8)"}},
		{"lazy block not multiple", "sparsegpt.lazy_block=6", []string{"--set sparsegpt.lazy_block: sparsegpt lazy block 6 is not a multiple of M=4"}},
		{"lazy block negative", "sparsegpt.lazy_block=-4", []string{"--set sparsegpt.lazy_block: -4 must be positive"}},
		{"damp negative", "sparsegpt.damp=-1", []string{"--set sparsegpt.damp: sparsegpt dampening -1 must be positive"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(good), tc.sets)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			es := AsErrors(err)
			require.Len(t, es, len(tc.want), "%v", err)
			for i, w := range tc.want {
				assert.True(t, strings.HasPrefix(es[i].Error(), w), "got %q\nwant prefix %q", es[i].Error(), w)
			}
		})
	}
}
