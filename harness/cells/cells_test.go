package cells

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func cell(key string, loss float64) *Cell {
	return &Cell{Key: key, Kind: "layer", Experiment: "e", Layer: "l", Method: "wanda", Pattern: "2:4",
		ProxyLoss: Float(loss), OutputError: Float(math.NaN()), Seconds: 1}
}

func TestStoreAppendAndTornLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x", "cells.jsonl")
	s, have, err := Open(p)
	require.NoError(t, err)
	assert.Empty(t, have)
	require.NoError(t, s.Append(cell("a", 0.5)))
	require.NoError(t, s.Append(cell("b", 0.25)))
	require.NoError(t, s.Close())

	// Simulate kill -9 in the middle of a write.
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"key":"c","kind":"la`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	s, have, err = Open(p)
	require.NoError(t, err)
	require.Len(t, have, 2)
	assert.True(t, math.IsNaN(float64(have[0].OutputError)), "NaN survives as null")
	require.NoError(t, s.Append(cell("c", 0.125)))
	require.NoError(t, s.Close())
	got, _, err := Read(p)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, "c", got[2].Key)
}

func TestReadCorruptMiddle(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cells.jsonl")
	require.NoError(t, os.WriteFile(p, []byte("{\"key\":\"a\"}\nnot json\n{\"key\":\"b\"}\n"), 0o644))
	_, _, err := Read(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cells.jsonl:2")
}

func TestMerge(t *testing.T) {
	a, b, c := cell("a", 1), cell("b", 2), cell("c", 3)
	b2 := cell("b", 2)
	b2.Seconds = 99 // timing is not compared
	out, dups, err := Merge([]*Cell{a, b}, []*Cell{b2, c})
	require.NoError(t, err)
	assert.Equal(t, 1, dups)
	assert.Len(t, out, 3)

	bad := cell("b", 2.5)
	_, _, err = Merge([]*Cell{b}, []*Cell{bad})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "proxy_loss")
}

func TestDownsample(t *testing.T) {
	h := make([]float64, 2001)
	for i := range h {
		h[i] = float64(i)
	}
	for _, tc := range []struct{ n, len int }{{256, 256}, {3000, 2001}, {2, 2}} {
		v, idx := Downsample(h, tc.n)
		assert.Len(t, v, tc.len)
		assert.Equal(t, 0, idx[0])
		assert.Equal(t, 2000, idx[len(idx)-1])
		for k := range v {
			assert.Equal(t, float64(idx[k]), v[k])
		}
	}
}

func TestKeyStable(t *testing.T) {
	k := KeyInput{Version: "v", Kind: "layer", LayerID: "id", Layer: "l", Method: "armor", Pattern: "2:4", Params: Params{BlockSize: 32, Iters: 10}}
	k2 := k
	k2.Params.Iters = 11
	assert.Equal(t, Key(k), Key(k))
	assert.NotEqual(t, Key(k), Key(k2))
	assert.Len(t, Key(k), 32)
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	require.NoError(t, WriteFileAtomic(p, []byte("one")))
	require.NoError(t, WriteFileAtomic(p, []byte("two")))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	ents, _ := os.ReadDir(dir)
	assert.Len(t, ents, 1, "no temporary files left")
}
