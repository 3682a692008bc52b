package methods

import (
	"math"

	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/mat"
)

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
