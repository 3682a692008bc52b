package methods

import (
	"errors"
	"fmt"
	"math"

	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Stats are the calibration statistics of one linear layer, all computed from
// the same n activation rows x_t ∈ R^{d_in}:
//
//	Hdiag_j     = (2/n) Σ_t x_{t,j}²   (NoWag-P, ARMOR, proxy loss)
//	H           = (2/n) Σ_t x_t x_tᵀ   (SparseGPT; nil when not gathered)
//	WandaNorm_j = (1/n) Σ_t x_{t,j}²   (Wanda uses its square root)
//
// Hdiag has its non-finite or non-positive entries replaced by the mean of the
// valid ones (ALGORITHMS.md); H and WandaNorm are left exactly as measured.
type Stats struct {
	N         int
	Hdiag     []float64
	H         *mat.SymDense
	WandaNorm []float64
}

// Accumulator gathers Stats in streaming form, one batch of activations at a
// time, so a caller never holds all activations at once. Sums are kept in
// float64 whatever the precision of the activations.
//
// By default each batch's Gram product XᵀX is computed in float64. With
// SetGramPrecision(Float32) it is computed in float32 instead (sgemm and
// ssyrk, about twice dgemm's rate, for a SparseGPT run in float32): the
// batch is rounded to float32 (AddFloat32's values already are), XᵀX is
// summed over the batch's rows in float32 and then added to the float64
// sum of all batches. Hdiag and WandaNorm never change: they are summed
// from the float64 (or widened float32) values in float64 either way.
type Accumulator struct {
	dIn    int
	n      int
	sumSq  []float64
	gram   *mat.SymDense // Σ x xᵀ, upper triangle; nil unless full
	gram32 bool          // Gram products in float32
	buf    []float64
	buf32  []float32   // a float64 batch rounded, for the float32 Gram
	panels [][]float32 // per-worker float32 Gram panels
}

// NewAccumulator returns an accumulator for d_in-wide activations. With full
// set it also accumulates the d_in × d_in Gram matrix needed by SparseGPT
// (O(d_in²) memory, O(n·d_in²) time).
func NewAccumulator(dIn int, full bool) *Accumulator {
	a := &Accumulator{dIn: dIn, sumSq: make([]float64, dIn)}
	if full {
		a.gram = mat.NewSymDense(dIn, nil)
	}
	return a
}

// SetGramPrecision chooses the arithmetic of the Gram products XᵀX of the
// batches added from then on: Float64 (the default; "" means Float64) or
// Float32 (see Accumulator). It does nothing unless the accumulator
// gathers the full H.
func (a *Accumulator) SetGramPrecision(p Precision) error {
	switch p {
	case "", Float64:
		a.gram32 = false
	case Float32:
		a.gram32 = true
	default:
		return fmt.Errorf("gram precision %q: want float64 or float32", p)
	}
	return nil
}

// Rows reports how many activation rows have been added.
func (a *Accumulator) Rows() int { return a.n }

// Add accumulates a batch X (rows × d_in).
func (a *Accumulator) Add(X mat.Matrix) error {
	r, c := X.Dims()
	if c != a.dIn {
		return fmt.Errorf("activations have %d columns, want d_in=%d", c, a.dIn)
	}
	if r == 0 {
		return nil
	}
	var g blas64.General
	if d, ok := X.(*mat.Dense); ok {
		g = d.RawMatrix()
	} else {
		g = mat.DenseCopyOf(X).RawMatrix()
	}
	if a.gram32 && a.gram != nil {
		a.addSumSq(g)
		x := a.float32Buf(r * c)
		kernel.For((r+copyChunk-1)/copyChunk, 0, func(k int) {
			for i := k * copyChunk; i < min((k+1)*copyChunk, r); i++ {
				convertInto(x[i*c:(i+1)*c], g.Data[i*g.Stride:i*g.Stride+c])
			}
		})
		a.gramAdd32(x, r)
		a.n += r
		return nil
	}
	a.addGeneral(g)
	return nil
}

// float32Buf returns a float32 scratch of n values, reused across batches.
func (a *Accumulator) float32Buf(n int) []float32 {
	if cap(a.buf32) < n {
		a.buf32 = make([]float32, n)
	}
	return a.buf32[:n]
}

// AddFloat32 accumulates a batch given as row-major float32 values with d_in
// columns (as produced by a model's forward pass). Values are widened to
// float64 before squaring.
func (a *Accumulator) AddFloat32(x []float32, rows int) error {
	if rows*a.dIn != len(x) {
		return fmt.Errorf("activation batch has %d values, want %d rows × d_in=%d", len(x), rows, a.dIn)
	}
	if rows == 0 {
		return nil
	}
	if a.gram32 && a.gram != nil {
		for t := 0; t < rows; t++ {
			for j, v := range x[t*a.dIn : (t+1)*a.dIn] {
				w := float64(v)
				a.sumSq[j] += w * w
			}
		}
		a.gramAdd32(x, rows)
		a.n += rows
		return nil
	}
	if cap(a.buf) < len(x) {
		a.buf = make([]float64, len(x))
	}
	buf := a.buf[:len(x)]
	for i, v := range x {
		buf[i] = float64(v)
	}
	a.addGeneral(blas64.General{Rows: rows, Cols: a.dIn, Stride: a.dIn, Data: buf})
	return nil
}

func (a *Accumulator) addGeneral(g blas64.General) {
	a.addSumSq(g)
	if a.gram != nil {
		gramAdd(a.gram.RawSymmetric(), g)
	}
	a.n += g.Rows
}

// addSumSq adds the squares of g's columns to sumSq.
func (a *Accumulator) addSumSq(g blas64.General) {
	for t := 0; t < g.Rows; t++ {
		row := g.Data[t*g.Stride : t*g.Stride+g.Cols]
		for j, v := range row {
			a.sumSq[j] += v * v
		}
	}
}

// gramAdd32 adds XᵀX, computed in float32, to the float64 Gram sum; x is
// rows × d_in, row-major. The upper triangle is cut into symRankK's column
// panels; each task computes its panel (one sgemm above the diagonal block,
// one ssyrk on it) into its worker's float32 scratch and adds it to the
// float64 sum. Each entry is written by one task, and the panels depend on
// d_in alone, so the sum does not depend on the number of cores.
func (a *Accumulator) gramAdd32(x []float32, rows int) {
	d := a.dIn
	bounds := equalAreaPanels(d, gramTasks)
	nw := kernel.Workers(len(bounds)-1, 0)
	area := 0
	for k := 1; k < len(bounds); k++ {
		area = max(area, bounds[k]*(bounds[k]-bounds[k-1]))
	}
	for len(a.panels) < nw {
		a.panels = append(a.panels, nil)
	}
	for w := range a.panels[:nw] {
		if len(a.panels[w]) < area {
			a.panels[w] = make([]float32, area)
		}
	}
	xm := kernel.Mat[float32]{Rows: rows, Cols: d, Stride: d, Data: x}
	g := a.gram.RawSymmetric()
	kernel.ForWorker(len(bounds)-1, 0, func(w, k int) {
		j0, j1 := bounds[k], bounds[k+1]
		wd := j1 - j0
		// P holds rows 0..j1 of the columns j0..j1 of XᵀX (stride wd).
		pm := kernel.Mat[float32]{Rows: j1, Cols: wd, Stride: wd, Data: a.panels[w][:j1*wd]}
		xp := xm.Sub(0, j0, rows, wd)
		if j0 > 0 {
			kernel.Gemm(blas.Trans, blas.NoTrans, 1, xm.Sub(0, 0, rows, j0), xp, 0, pm.Sub(0, 0, j0, wd))
		}
		kernel.Syrk(blas.Trans, 1, xp, 0, pm.Sub(j0, 0, wd, wd))
		for i := 0; i < j1; i++ {
			c0 := max(i, j0) // the upper triangle only
			gr := g.Data[i*g.Stride+c0 : i*g.Stride+j1]
			pr := pm.Data[i*wd+c0-j0 : i*wd+wd]
			for t, v := range pr {
				gr[t] += float64(v)
			}
		}
	})
}

// gramTasks is the number of column panels the Gram matrix is split in.
const gramTasks = 8

// gramAdd adds XᵀX to the upper triangle of C, in parallel (symRankK).
func gramAdd(c blas64.Symmetric, x blas64.General) {
	symRankK(blas.Trans, 1, kernel.Mat[float64]{Rows: x.Rows, Cols: x.Cols, Stride: x.Stride, Data: x.Data},
		kernel.Mat[float64]{Rows: c.N, Cols: c.N, Stride: c.Stride, Data: c.Data}, gramTasks)
}

// symRankK is a parallel BLAS syrk on the upper triangle of the square C:
// C += α·X·Xᵀ (t = NoTrans, X is n × k) or C += α·Xᵀ·X (t = Trans, X is
// k × n), with blas64 or blas32. The triangle is cut into (at most) tasks
// column panels of about equal area (columns j0..j1, rows 0..j1), computed
// in parallel: the part above the diagonal block by one matrix product, the
// diagonal block by a syrk. Few, large products keep OpenBLAS's packing
// overhead, (M+N)/(2MN) of the flops of an M × N product, low. Each entry of
// C is written by one task only and the panels depend on n alone, so C does
// not depend on the number of cores.
func symRankK[T float](t blas.Transpose, alpha T, x, c kernel.Mat[T], tasks int) {
	bounds := equalAreaPanels(c.Rows, tasks)
	// cols returns X's rows (NoTrans) or columns (Trans) j0..j1.
	cols := func(j0, j1 int) kernel.Mat[T] {
		if t == blas.NoTrans {
			return x.Sub(j0, 0, j1-j0, x.Cols)
		}
		return x.Sub(0, j0, x.Rows, j1-j0)
	}
	t2 := blas.Trans
	if t == blas.Trans {
		t2 = blas.NoTrans
	}
	kernel.For(len(bounds)-1, 0, func(k int) {
		j0, j1 := bounds[k], bounds[k+1]
		xp := cols(j0, j1)
		if j0 > 0 {
			kernel.Gemm(t, t2, alpha, cols(0, j0), xp, 1, c.Sub(0, j0, j0, j1-j0))
		}
		kernel.Syrk(t, alpha, xp, 1, c.Sub(j0, j0, j1-j0, j1-j0))
	})
}

// equalAreaPanels splits the columns 0..n of an upper triangle into at most
// p panels of about equal area: boundaries n·√(k/p), rounded to multiples
// of 16 (the last is n), without empty panels.
func equalAreaPanels(n, p int) []int {
	b := []int{0}
	for k := 1; k < p; k++ {
		j := int(math.Round(float64(n)*math.Sqrt(float64(k)/float64(p))/16)) * 16
		if j > b[len(b)-1] && j < n {
			b = append(b, j)
		}
	}
	return append(b, n)
}

// Stats returns the statistics of everything added so far.
func (a *Accumulator) Stats() (*Stats, error) {
	if a.n == 0 {
		return nil, errors.New("no calibration activations were added")
	}
	n := float64(a.n)
	s := &Stats{N: a.n, Hdiag: make([]float64, a.dIn), WandaNorm: make([]float64, a.dIn)}
	for j, v := range a.sumSq {
		s.Hdiag[j] = 2 * v / n
		s.WandaNorm[j] = v / n
	}
	SanitizeHdiag(s.Hdiag)
	if a.gram != nil {
		// H = (2/n)·gram, upper triangle, in parallel row chunks.
		s.H = mat.NewSymDense(a.dIn, nil)
		h, g := s.H.RawSymmetric(), a.gram.RawSymmetric()
		d, f := a.dIn, 2/n
		kernel.For((d+copyChunk-1)/copyChunk, 0, func(c int) {
			for i := c * copyChunk; i < min((c+1)*copyChunk, d); i++ {
				hr, gr := h.Data[i*h.Stride+i:i*h.Stride+d], g.Data[i*g.Stride+i:i*g.Stride+d]
				for j, v := range gr {
					hr[j] = f * v
				}
			}
		})
	}
	return s, nil
}

// StatsFromActivations is Accumulator in one call: the statistics of X
// (n × d_in), with the full H when full is set.
func StatsFromActivations(X mat.Matrix, full bool) (*Stats, error) {
	_, c := X.Dims()
	acc := NewAccumulator(c, full)
	if err := acc.Add(X); err != nil {
		return nil, err
	}
	return acc.Stats()
}

// StatsFromActivationsGram is StatsFromActivations with the Gram product
// of H in the given precision (Accumulator.SetGramPrecision): with Float32,
// X is rounded to float32 and XᵀX summed in float32 before H is scaled in
// float64; Hdiag and WandaNorm are those of StatsFromActivations.
func StatsFromActivationsGram(X mat.Matrix, full bool, gram Precision) (*Stats, error) {
	_, c := X.Dims()
	acc := NewAccumulator(c, full)
	if err := acc.SetGramPrecision(gram); err != nil {
		return nil, err
	}
	if err := acc.Add(X); err != nil {
		return nil, err
	}
	return acc.Stats()
}

// StatsFromHessian builds Stats when only the Hessian diagonal (and optionally
// the full H) is known, e.g. from a file. WandaNorm is taken as hdiag/2, which
// gives Wanda the same mask as the activations would. hdiag is copied and
// sanitized; when H is given, its diagonal must have length len(hdiag).
func StatsFromHessian(hdiag []float64, H *mat.SymDense) (*Stats, error) {
	if len(hdiag) == 0 {
		if H == nil {
			return nil, errors.New("neither hessian_diag nor H given")
		}
		hdiag = make([]float64, H.SymmetricDim())
		for j := range hdiag {
			hdiag[j] = H.At(j, j)
		}
	}
	if H != nil && H.SymmetricDim() != len(hdiag) {
		return nil, fmt.Errorf("H is %d×%d but hessian_diag has %d entries", H.SymmetricDim(), H.SymmetricDim(), len(hdiag))
	}
	s := &Stats{Hdiag: append([]float64(nil), hdiag...), H: H, WandaNorm: make([]float64, len(hdiag))}
	for j, v := range hdiag {
		s.WandaNorm[j] = v / 2
	}
	SanitizeHdiag(s.Hdiag)
	return s, nil
}

// SanitizeHdiag replaces, in place, every non-finite or non-positive entry by
// the mean of the valid ones (by 1 when none is valid), as ALGORITHMS.md
// prescribes, so that a dead input channel never yields a zero weight in the
// proxy loss's denominator.
func SanitizeHdiag(h []float64) {
	sum, cnt := 0.0, 0
	for _, v := range h {
		if v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
			sum += v
			cnt++
		}
	}
	if cnt == len(h) {
		return
	}
	mean := 1.0
	if cnt > 0 {
		mean = sum / float64(cnt)
	}
	for j, v := range h {
		if !(v > 0) || math.IsInf(v, 0) {
			h[j] = mean
		}
	}
}

// subGeneral is the rows × cols block of the row-major a (stride given)
// starting at (r0, c0), as a BLAS matrix.
func subGeneral(a []float64, stride, r0, c0, rows, cols int) blas64.General {
	return blas64.General{Rows: rows, Cols: cols, Stride: stride, Data: a[r0*stride+c0:]}
}
