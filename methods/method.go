package methods

import (
	"fmt"
	"math"
	"sort"
	"strings"

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

// Method prunes one layer. Implementations are stateless apart from their
// configuration and safe for concurrent use.
type Method interface {
	// Name is the registry name: magnitude, wanda, sparsegpt, nowag, armor.
	Name() string
	// Prune returns the pruned layer. It never modifies l.
	Prune(l *Layer) (*Result, error)
}

// Config holds every knob of every method; each method reads its own part.
type Config struct {
	Pattern   Pattern
	SparseGPT SparseGPTConfig
	ARMOR     ARMORConfig
}

// DefaultConfig is 2:4 with each method's published defaults.
func DefaultConfig() Config {
	return Config{Pattern: Pattern24, SparseGPT: DefaultSparseGPTConfig(), ARMOR: DefaultARMORConfig()}
}

var registry = map[string]func(Config) Method{
	"magnitude": func(c Config) Method { return &Magnitude{Pattern: c.Pattern} },
	"wanda":     func(c Config) Method { return &Wanda{Pattern: c.Pattern} },
	"nowag":     func(c Config) Method { return &NoWagP{Pattern: c.Pattern} },
	"sparsegpt": func(c Config) Method { return &SparseGPT{Pattern: c.Pattern, Config: c.SparseGPT} },
	"armor":     func(c Config) Method { return &ARMOR{Pattern: c.Pattern, Config: c.ARMOR} },
}

// Names lists the registered method names in alphabetical order.
func Names() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New returns the method registered under name, configured by cfg.
func New(name string, cfg Config) (Method, error) {
	f, ok := registry[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("unknown method %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if err := cfg.Pattern.Valid(); err != nil {
		return nil, err
	}
	return f(cfg), nil
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

// scoreKind is the score of a mask-only method.
type scoreKind int

const (
	scoreMagnitude scoreKind = iota // |W_ij|
	scoreWanda                      // |W_ij|·scale_j
	scoreNoWag                      // W̄_ij²·hdiag_j
)

// maskOnly is the shared body of the methods that only choose a mask: it
// keeps the N largest scores per group, sets Ŵ = W⊙M and measures the proxy
// loss of Ŵ. The layer must have passed checkShapes; scale is Wanda's
// per-column factor (nil for the others).
//
// After the column norms everything happens in one pass over the rows, each
// row in cache-sized scratch: W̄, the scores and the loss terms never exist as
// d_out × d_in matrices, which used to cost more in allocation and memory
// traffic than the arithmetic. The numbers are bitwise those of Normalize,
// TopNMask on the full score matrix, W⊙M and Normalization.ProxyLoss: the
// same expressions, summed in the same order.
func maskOnly(name string, p Pattern, l *Layer, kind scoreKind, scale []float64) (*Result, error) {
	w := l.W.RawMatrix()
	rows, cols := w.Rows, w.Cols
	C := columnNorms(w)
	// A NaN or ±Inf in W makes its column's norm non-finite, so the scan
	// Check would have made is only needed to name the entry. (Finite
	// columns whose squares overflow also get here and, as before, go on.)
	if hasNonFinite(C) {
		if err := checkFinite(w); err != nil {
			return nil, err
		}
	}
	k := maskKernel{p: p, kind: kind, C: C, hdiag: l.Stats.Hdiag, scale: scale,
		// Scores are finite products of finite factors, except Wanda's with a
		// non-finite scale (WandaNorm is kept as measured) and, to be safe,
		// any score after a column norm overflowed.
		mayNaN: hasNonFinite(C) || hasNonFinite(scale)}
	m := NewMask(rows, cols)
	What := mat.NewDense(rows, cols, nil)
	out := What.RawMatrix()
	num, den := make([]float64, rows), make([]float64, rows)
	kernel.For(numChunks(rows, rowChunk), 0, func(c int) {
		sc := newMaskScratch(cols, p)
		for i := c * rowChunk; i < min((c+1)*rowChunk, rows); i++ {
			num[i], den[i] = k.row(w.Data[i*w.Stride:i*w.Stride+cols], m.Keep[i*cols:(i+1)*cols],
				out.Data[i*out.Stride:i*out.Stride+cols], sc)
		}
	})
	res := &Result{Method: name, Pattern: p, Mask: m, What: What, ProxyLoss: sumInOrder(num) / sumInOrder(den)}
	return finishOutputError(l, res)
}

// maskKernel holds what every row of a mask-only method needs.
type maskKernel struct {
	p        Pattern
	kind     scoreKind
	C, hdiag []float64
	scale    []float64 // Wanda's, else nil
	// mayNaN is set when a score could be NaN, which the branch-free 2:4
	// selection does not rank as top2of4 does.
	mayNaN bool
}

// maskScratch is one task's row-sized scratch.
type maskScratch struct {
	wbar, score []float64
	idx         []int
}

func newMaskScratch(cols int, p Pattern) *maskScratch {
	return &maskScratch{wbar: make([]float64, cols), score: make([]float64, cols), idx: make([]int, p.M)}
}

// row prunes one row w: it sets keep (all false on entry) and what (all zero
// on entry, so only kept entries are written) and returns the row's proxy
// loss numerator and denominator.
//
// The row's sums are sequential chains of additions, so their cost is the
// latency of an addition per entry; the loops are arranged so that
// independent chains (the denominator with the scores, the numerator with
// the selection) and the divisions overlap.
func (k *maskKernel) row(w []float64, keep []bool, what []float64, sc *maskScratch) (num, den float64) {
	n := len(w)
	C, h := k.C[:n], k.hdiag[:n]
	wbar, score := sc.wbar[:n], sc.score[:n]
	keep, what = keep[:n], what[:n]

	// W̄'s row as Normalize makes it: (w_j/C_j)/r, r = ‖w/C‖₂ + 1e-5.
	r := rowOverC(w, C, wbar)

	// Finish W̄, add up the denominator as ProxyDenominator does (h_j·d·d
	// with d = −W̄_ij) and score, in one loop.
	switch k.kind {
	case scoreNoWag:
		for j := range wbar {
			x := wbar[j] / r
			wbar[j] = x
			d := -x
			den += float64(h[j] * d * d)
			score[j] = x * x * h[j]
		}
	case scoreWanda:
		scale := k.scale[:n]
		for j := range wbar {
			x := wbar[j] / r
			wbar[j] = x
			d := -x
			den += float64(h[j] * d * d)
			score[j] = math.Abs(w[j]) * scale[j]
		}
	default:
		for j := range wbar {
			x := wbar[j] / r
			wbar[j] = x
			d := -x
			den += float64(h[j] * d * d)
			score[j] = math.Abs(w[j])
		}
	}

	if k.p != Pattern24 {
		selectRow(score, keep, k.p, sc.idx)
		for j, v := range w {
			if keep[j] {
				what[j] = v
			}
		}
		return proxyNumRow(what, wbar, C, h, r), den
	}
	// 2:4: select, write the two kept entries, and add the group's terms
	// h_j·(ŵ_j/(r·C_j) − W̄_ij)² in column order, as ProxyLoss does. For a
	// pruned entry ŵ_j = +0, so the difference is exactly −W̄_ij and the term
	// is (h_j·W̄_ij)·W̄_ij bit for bit: only the two kept entries need the
	// division.
	for g := 0; g+4 <= n; g += 4 {
		var a, b int
		if s0, s1, s2, s3 := score[g], score[g+1], score[g+2], score[g+3]; !k.mayNaN {
			// sel2of4Ordered, written out: the call would not be inlined.
			e := sel24[b2i(s0 >= s1)|b2i(s0 >= s2)<<1|b2i(s0 >= s3)<<2|b2i(s1 >= s2)<<3|b2i(s1 >= s3)<<4|b2i(s2 >= s3)<<5]
			a, b = int(e&3), int(e>>2)
		} else {
			a, b = sel2of4(score[g : g+4 : g+4])
		}
		ga, gb := g+a, g+b
		keep[ga], keep[gb] = true, true
		what[ga], what[gb] = w[ga], w[gb]
		var t [4]float64
		for q := range t {
			x := wbar[g+q]
			t[q] = h[g+q] * x * x
		}
		da := w[ga]/(r*C[ga]) - wbar[ga]
		db := w[gb]/(r*C[gb]) - wbar[gb]
		t[a], t[b] = h[ga]*da*da, h[gb]*db*db
		num += t[0]
		num += t[1]
		num += t[2]
		num += t[3]
	}
	return num, den
}
