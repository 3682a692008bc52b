package pipeline

import (
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"runtime"

	"gonum.org/v1/gonum/mat"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// shareWeights returns weights with their own list of layers (whose linear
// layers Prune replaces) sharing every tensor with w.
func shareWeights(w *model.Weights) *model.Weights {
	c := *w
	c.Layers = append([]model.Layer(nil), w.Layers...)
	return &c
}

// layerMemoryBudget bounds the float64 working copies (weight, result and
// scratch, about three matrices per layer) of the layers pruned at once by
// default.
const layerMemoryBudget = 768 << 20

// defaultWorkers is the number of layers pruned at once when Options.Workers
// is unset: one per CPU, fewer when the largest layer's float64 working set
// would exceed layerMemoryBudget (the methods parallelise inside a layer
// anyway; results never depend on the number of workers).
func defaultWorkers(cfg model.Config) int {
	largest := 3 * 8 * int64(cfg.HiddenDim) * int64(cfg.Dim)
	return max(1, min(runtime.NumCPU(), int(layerMemoryBudget/largest)))
}

// LayerWorkingSet estimates the heap bytes that pruning one d_out × d_in
// layer with method needs at its peak, from the sizes of the arrays the
// methods allocate (measured against gctrace on 11008 × 4096 layers): the
// float64 copies of W, W̄ and Ŵ; with full the layer's float64 H; SparseGPT's
// factor of H and its working copy of W in its precision; ARMOR's working
// set (about eleven d_out × d_in arrays in its precision during the run;
// at its end a float64 state of four such arrays (one becomes the core) and
// Ŵ, then the core, Ŵ and the dense d_out² and d_in² factors of its result).
func LayerWorkingSet(method string, prec methods.Precision, dOut, dIn int, full bool) int64 {
	n, hIn := int64(dOut)*int64(dIn), int64(dIn)*int64(dIn)
	elem := int64(8)
	if prec == methods.Float32 {
		elem = 4
	}
	ws := 3 * 8 * n // W, W̄ (or Ŵ) and a scratch matrix, float64
	switch method {
	case "sparsegpt":
		full = true
		ws += n*elem + 2*hIn*elem // its W, H rounded to its precision and the factor
	case "armor":
		run := 11 * n * elem
		end := max(5*8*n, 2*8*n+8*(int64(dOut)*int64(dOut)+hIn))
		ws += max(run, end)
	}
	if full {
		ws += 8 * hIn
	}
	return ws
}

// chooseWorkers is the number of layers pruned at once: workers when it is
// positive, else budgetWorkers when a budget is given, else defaultWorkers.
func chooseWorkers(workers int, budget int64, cfg model.Config, method string, mc methods.Config, full bool) int {
	switch {
	case workers > 0:
		return workers
	case budget > 0:
		return budgetWorkers(cfg, method, methodPrecision(method, mc), full, budget)
	}
	return defaultWorkers(cfg)
}

// methodPrecision is the storage precision of method's working set.
func methodPrecision(method string, mc methods.Config) methods.Precision {
	switch method {
	case "armor":
		return mc.ARMOR.Precision
	case "sparsegpt":
		return mc.SparseGPT.Precision
	}
	return methods.Float64
}

// budgetWorkers is the number of layers pruned at once under a memory
// budget of budget bytes: what is left after the block's weights (at most
// float32, 4·(4·dim² + 3·dim·hidden) bytes; GQA's smaller k/v counted as
// full) divided by the working set (LayerWorkingSet) of the largest layer
// of cfg; at least one, at most one per CPU.
func budgetWorkers(cfg model.Config, method string, prec methods.Precision, full bool, budget int64) int {
	d, hd := int64(cfg.Dim), int64(cfg.HiddenDim)
	left := budget - 4*(4*d*d+3*d*hd)
	largest := max(LayerWorkingSet(method, prec, cfg.HiddenDim, cfg.Dim, full),
		LayerWorkingSet(method, prec, cfg.Dim, cfg.HiddenDim, full))
	return max(1, min(runtime.NumCPU(), int(left/largest)))
}

// storeLike rounds a pruned weight to the storage of the layer it replaces:
// float32, or float32 then the same 16-bit format (nearest even), keeping
// that layer's bias.
func storeLike(what *mat.Dense, orig *model.Linear) *model.Linear {
	if !orig.IsHalf() {
		l := denseToLinear(what)
		l.Bias = orig.Bias
		return l
	}
	r, c := what.Dims()
	half := make([]byte, 2*r*c)
	narrow := datasets.Float64ToF16
	if orig.HalfKind == model.HalfBF16 {
		narrow = datasets.Float64ToBF16
	}
	for i := 0; i < r; i++ {
		for j, x := range what.RawRowView(i) {
			binary.LittleEndian.PutUint16(half[2*(i*c+j):], narrow(float64(float32(x))))
		}
	}
	h := model.NewHalfLinear(r, c, orig.HalfKind, half)
	h.Bias = orig.Bias
	return h
}

// halfDTypes maps 16-bit storage to its safetensors dtype.
var halfDTypes = map[model.HalfKind]datasets.DType{model.HalfBF16: datasets.BF16, model.HalfF16: datasets.F16}

// SpillFile is the file spillBlock writes block i's layers to.
func SpillFile(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("block-%05d.safetensors", i))
}

// spillBlock writes the half-precision linear layers of block i of w to
// SpillFile(dir, i) and replaces them by views of that file, memory-mapped,
// so that their bytes leave the heap.
func spillBlock(dir string, w *model.Weights, i int) error {
	L := &w.Layers[i]
	var ts []datasets.StreamTensor
	for _, p := range model.Projections {
		l := L.Projection(p)
		if !l.IsHalf() {
			continue
		}
		dt := halfDTypes[l.HalfKind]
		ts = append(ts, datasets.StreamTensor{Name: model.LinearName(i, p), DType: dt, Shape: []int{l.Out, l.In},
			Write: func(wr io.Writer) error { _, err := wr.Write(l.Half); return err }})
	}
	if len(ts) == 0 {
		return nil
	}
	path := SpillFile(dir, i)
	if err := datasets.WriteSafetensorsStream(path, ts, map[string]string{"format": "armor-spill"}); err != nil {
		return fmt.Errorf("prune: spill block %d: %w", i, err)
	}
	mf, err := datasets.MapSafetensors(path)
	if err != nil {
		return fmt.Errorf("prune: spill block %d: %w", i, err)
	}
	for _, p := range model.Projections {
		l := L.Projection(p)
		if !l.IsHalf() {
			continue
		}
		t, err := mf.Tensor(model.LinearName(i, p))
		if err != nil {
			return fmt.Errorf("prune: spill block %d: %w", i, err)
		}
		v := *l
		v.Half = t.Data
		if err := L.SetProjection(p, &v); err != nil {
			return err
		}
	}
	return nil
}

// releaseLayer hands the memory-mapped pages of a block's half-precision
// weights back to the page cache (they are read again when next used).
func releaseLayer(L *model.Layer) {
	for _, p := range model.Projections {
		if l := L.Projection(p); l != nil && l.IsHalf() {
			datasets.ReleaseMapped(l.Half)
		}
	}
}
