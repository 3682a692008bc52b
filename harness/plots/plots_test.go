package plots

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/cells"
)

func TestWrite(t *testing.T) {
	ref := cells.Params{BlockSize: 8, Iters: 10, Select: "gradient"}
	var cs []*cells.Cell
	for _, l := range []string{"a", "b"} {
		cs = append(cs, &cells.Cell{Kind: "layer", Layer: l, Method: "nowag", ProxyLoss: 0.5})
		for _, b := range []int{8, 16} {
			for _, it := range []int{0, 10} {
				p := ref
				p.BlockSize, p.Iters = b, it
				h := make([]float64, it+1)
				for i := range h {
					h[i] = 0.5 - 0.01*float64(i*b)/16
				}
				c := &cells.Cell{Kind: "layer", Layer: l, Method: "armor", Params: p, ProxyLoss: cells.Float(h[it])}
				c.History, c.HistoryIters = cells.Downsample(h, 5)
				cs = append(cs, c)
			}
		}
	}
	dir := t.TempDir()
	paths, err := Write(dir, cs, []string{"loss_vs_iter", "loss_vs_block", "layer_loss"}, []string{"png", "svg"}, ref)
	require.NoError(t, err)
	assert.Len(t, paths, 6)
	for _, p := range paths {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(500), filepath.Base(p))
	}
	// No ARMOR cells: the ARMOR plots are skipped, not failed.
	paths, err = Write(dir, cs[:1], []string{"loss_vs_iter", "loss_vs_block"}, []string{"png"}, ref)
	require.NoError(t, err)
	assert.Empty(t, paths)
	_, err = Write(dir, cs, []string{"nope"}, []string{"png"}, ref)
	assert.Error(t, err)
	// ARMOR cells but no budget covering every layer (layer b has only b=8,
	// 10 iterations): the block-size plot has no line and is skipped — it
	// used to panic on its empty log axis.
	var partial []*cells.Cell
	for _, c := range cs {
		if c.Method == "nowag" || c.Layer == "a" || (c.Params.BlockSize == 8 && c.Params.Iters == 0) {
			partial = append(partial, c)
		}
	}
	partial = append(partial, &cells.Cell{Kind: "layer", Layer: "c", Method: "nowag", ProxyLoss: 0.5})
	paths, err = Write(dir, partial, []string{"loss_vs_block"}, []string{"png"}, ref)
	require.NoError(t, err)
	assert.Empty(t, paths)
}
