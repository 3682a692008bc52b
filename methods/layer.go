package methods

import (
	"fmt"
	"math"

	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Version identifies the numerics of this package. It is part of every
// cached result's key (harness cells): bump it whenever a change alters any
// number a method returns, so stale results are recomputed, not reused.
const Version = "methods/7"

// Layer is one linear layer to prune: its weight and its calibration data.
type Layer struct {
	// W is the d_out × d_in weight; the layer computes y = W x.
	W *mat.Dense
	// Stats holds the calibration statistics. Hdiag is required by every
	// method; H only by SparseGPT.
	Stats *Stats
	// X optionally holds calibration activations (n × d_in). When present the
	// output error is measured on X; otherwise on H when present; otherwise it
	// is NaN.
	X mat.Matrix
}

// Check validates the shapes of a layer against pattern p and returns an
// error naming what is wrong.
func (l *Layer) Check(p Pattern) error {
	if err := l.checkShapes(p); err != nil {
		return err
	}
	return checkFinite(l.W.RawMatrix())
}

// checkShapes is Check without the scan of W for non-finite entries, for the
// mask-only methods, which find them in their own pass over W (maskOnly).
func (l *Layer) checkShapes(p Pattern) error {
	if l == nil || l.W == nil {
		return fmt.Errorf("layer has no weight W")
	}
	r, c := l.W.Dims()
	if r == 0 || c == 0 {
		return fmt.Errorf("W is empty (%d×%d)", r, c)
	}
	if err := p.Check(c); err != nil {
		return fmt.Errorf("W is %d×%d: %w", r, c, err)
	}
	if l.Stats == nil || len(l.Stats.Hdiag) != c {
		got := 0
		if l.Stats != nil {
			got = len(l.Stats.Hdiag)
		}
		return fmt.Errorf("hessian_diag has %d entries, want d_in=%d", got, c)
	}
	if l.Stats.H != nil && l.Stats.H.SymmetricDim() != c {
		return fmt.Errorf("H is %d×%d, want %d×%d", l.Stats.H.SymmetricDim(), l.Stats.H.SymmetricDim(), c, c)
	}
	if l.X != nil {
		if _, xc := l.X.Dims(); xc != c {
			return fmt.Errorf("X has %d columns, want d_in=%d", xc, c)
		}
	}
	return nil
}

// checkFinite reports the first non-finite entry of w (row-major) as an
// error. Scanning all of W costs about as much as a mask-only method's
// arithmetic, so row chunks are scanned in parallel with a branch-free test,
// and only a chunk found bad is searched again for the position.
func checkFinite(w blas64.General) error {
	bad := make([]bool, numChunks(w.Rows, rowChunk))
	kernel.For(len(bad), 0, func(c int) {
		for i := c * rowChunk; i < min((c+1)*rowChunk, w.Rows); i++ {
			bad[c] = bad[c] || hasNonFinite(w.Data[i*w.Stride:i*w.Stride+w.Cols])
		}
	})
	for c, b := range bad {
		if !b {
			continue
		}
		for i := c * rowChunk; i < min((c+1)*rowChunk, w.Rows); i++ {
			for j, v := range w.Data[i*w.Stride : i*w.Stride+w.Cols] {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("W has a non-finite entry %v at (%d, %d)", v, i, j)
				}
			}
		}
	}
	return nil
}

// Result is what pruning one layer produces.
type Result struct {
	Method  string
	Pattern Pattern
	// What is the effective dense weight Ŵ (d_out × d_in) the pruned layer
	// computes with: W⊙M for the mask-only methods, SparseGPT's updated
	// weights, and diag(r)·A·core·B·diag(c) for ARMOR.
	What *mat.Dense
	// Mask is the N:M mask: of Ŵ for the plain methods, of the core for ARMOR.
	Mask *Mask
	// ProxyLoss is L(Ŵ) (ALGORITHMS.md); OutputError is E(Ŵ), NaN when the
	// layer carries neither X nor H.
	ProxyLoss   float64
	OutputError float64

	// ARMOR only. A (d_out × d_out) and B (d_in × d_in) are dense matrices,
	// zero off their diagonal blocks, with the normalization folded in
	// (A = diag(r)·A_n, B = B_n·diag(c)), so that What = A·Core·B.
	A, B *mat.Dense
	// Core is the N:M sparse core W'⊙M in normalized space.
	Core *mat.Dense
	// History is the proxy loss after each iteration (History[0] is the
	// starting loss, NoWag-P's), so len(History) = Iterations+1.
	History []float64
	// Elapsed is the wall-clock seconds since the start of the run at each
	// History entry (for loss-versus-time curves; not deterministic).
	Elapsed []float64
	// Iterations is how many ARMOR iterations ran (fewer than asked when it
	// stopped early); BlockSize the block size used.
	Iterations int
	BlockSize  int
	// StoppedEarly reports that the patience rule ended the run.
	StoppedEarly bool
}

// NonzeroFraction is the fraction of non-zeros in the sparse weight or core:
// N/M for any method that follows the pattern.
func (r *Result) NonzeroFraction() float64 {
	if r.Mask == nil || len(r.Mask.Keep) == 0 {
		return math.NaN()
	}
	return float64(r.Mask.Kept()) / float64(len(r.Mask.Keep))
}

// OverheadFraction is the number of parameters the ARMOR wrappers add
// (the entries of A's and B's diagonal blocks) relative to d_out·d_in, about
// b·(d_in+d_out)/(d_in·d_out); 0 for the other methods.
func (r *Result) OverheadFraction() float64 {
	if r.A == nil || r.BlockSize == 0 {
		return 0
	}
	dOut, dIn := r.What.Dims()
	n := 0
	for _, s := range BlockSizes(dOut, r.BlockSize) {
		n += s * s
	}
	for _, s := range BlockSizes(dIn, r.BlockSize) {
		n += s * s
	}
	return float64(n) / float64(dOut*dIn)
}

// finish fills in the loss and output error of a result whose What is set.
func finish(l *Layer, norm *Normalization, res *Result) (*Result, error) {
	res.ProxyLoss = norm.ProxyLoss(l.Stats.Hdiag, res.What)
	return finishOutputError(l, res)
}

// finishOutputError fills in the output error of a result whose What is set:
// on X when the layer carries activations, else on H, else NaN.
func finishOutputError(l *Layer, res *Result) (*Result, error) {
	res.OutputError = math.NaN()
	var err error
	switch {
	case l.X != nil:
		res.OutputError, err = OutputError(l.X, l.W, res.What)
	case l.Stats.H != nil:
		res.OutputError, err = OutputErrorFromHessian(l.Stats.H, l.W, res.What)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: output error: %w", res.Method, err)
	}
	return res, nil
}

// hasNonFinite reports whether x holds a NaN or ±Inf, without a branch per
// entry: an entry is non-finite exactly when its exponent bits are all set,
// and then adding one unit of exponent carries into the sign bit.
func hasNonFinite(x []float64) bool {
	const exp, one = 0x7ff0000000000000, 1 << 52
	acc := uint64(0)
	for _, v := range x {
		acc |= math.Float64bits(v)&exp + one
	}
	return acc>>63 != 0
}
