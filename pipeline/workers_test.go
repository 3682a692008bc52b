package pipeline

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// TestLayerWorkingSet checks the working-set estimate against the array
// sizes it is made of, for an 11008 × 4096 layer (Llama-2-7B's gate_proj).
func TestLayerWorkingSet(t *testing.T) {
	const dOut, dIn = 11008, 4096
	n, h := int64(dOut*dIn), int64(dIn*dIn)
	cases := []struct {
		method string
		prec   methods.Precision
		full   bool
		want   int64
	}{
		{"wanda", methods.Float64, false, 24 * n},
		{"nowag", methods.Float64, false, 24 * n},
		{"wanda", methods.Float64, true, 24*n + 8*h},
		{"sparsegpt", methods.Float64, false, 24*n + 8*n + 16*h + 8*h}, // H is always built
		{"sparsegpt", methods.Float32, true, 24*n + 4*n + 8*h + 8*h},
		// float32 ARMOR: the run (eleven float32 arrays) outweighs the end (five float64 ones).
		{"armor", methods.Float32, false, 24*n + 44*n},
		{"armor", methods.Float64, false, 24*n + 88*n},
	}
	for _, c := range cases {
		t.Run(c.method+"/"+string(c.prec), func(t *testing.T) {
			assert.Equal(t, c.want, LayerWorkingSet(c.method, c.prec, dOut, dIn, c.full))
		})
	}
}

// TestChooseWorkers: an explicit count wins; a budget admits as many of the
// largest layer as fit, at least one and at most one per CPU; without either
// the default applies.
func TestChooseWorkers(t *testing.T) {
	l7b := model.Config{Dim: 4096, HiddenDim: 11008}
	tiny := model.Config{Dim: 64, HiddenDim: 172}
	wanda := LayerWorkingSet("wanda", methods.Float64, 11008, 4096, false)
	block := int64(4 * (4*4096*4096 + 3*4096*11008)) // the block's weights, float32
	cfg := methods.DefaultConfig()
	cases := []struct {
		name    string
		workers int
		budget  int64
		mc      model.Config
		want    int
	}{
		{"explicit wins over a budget", 3, 1, l7b, 3},
		{"budget below one layer: one", 0, 1 << 20, l7b, 1},
		{"2.5 GiB on 7B shapes: one", 0, 5 << 29, l7b, 1},
		{"block and two layers' worth", 0, block + 2*wanda, l7b, min(2, runtime.NumCPU())},
		{"tiny layers: one per CPU", 0, 1 << 30, tiny, runtime.NumCPU()},
		{"a byte short of two layers", 0, block + 2*wanda - 1, l7b, 1},
		{"no budget: the default", 0, 0, l7b, defaultWorkers(l7b)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, chooseWorkers(c.workers, c.budget, c.mc, "wanda", cfg, false))
		})
	}
}
