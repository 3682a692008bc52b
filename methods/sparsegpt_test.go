package methods

import (
	"math"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// naiveSparseGPT is SparseGPT as published, written for clarity: H⁻¹ by a
// general inverse, U by the Cholesky factorization of H⁻¹, and every
// column's update applied at once to all later columns.
func naiveSparseGPT(t *testing.T, l *Layer, p Pattern, damp float64) (*mat.Dense, []bool) {
	t.Helper()
	rows, cols := l.W.Dims()
	W := mat.DenseCopyOf(l.W)
	H := mat.NewSymDense(cols, nil)
	H.CopySym(l.Stats.H)
	mean := 0.0
	for j := 0; j < cols; j++ {
		if H.At(j, j) == 0 {
			H.SetSym(j, j, 1)
			for i := 0; i < rows; i++ {
				W.Set(i, j, 0)
			}
		}
		mean += H.At(j, j)
	}
	mean /= float64(cols)
	for j := 0; j < cols; j++ {
		H.SetSym(j, j, H.At(j, j)+damp*mean)
	}
	var inv mat.Dense
	if err := inv.Inverse(H); err != nil {
		t.Fatal(err)
	}
	Hinv := mat.NewSymDense(cols, nil)
	for i := 0; i < cols; i++ {
		for j := i; j < cols; j++ {
			Hinv.SetSym(i, j, (inv.At(i, j)+inv.At(j, i))/2)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(Hinv) {
		t.Fatal("H⁻¹ not positive definite")
	}
	var U mat.TriDense
	ch.UTo(&U)
	keep := make([]bool, rows*cols)
	for r := 0; r < rows; r++ {
		for i := 0; i < cols; i++ {
			if i%p.M == 0 {
				score := make([]float64, p.M)
				for k := range score {
					d := U.At(i+k, i+k)
					score[k] = W.At(r, i+k) * W.At(r, i+k) / (d * d)
				}
				kept := generalTopN(score, 1, p.M, p)
				for k, v := range kept {
					keep[r*cols+i+k] = v
				}
			}
			if keep[r*cols+i] {
				continue
			}
			e := W.At(r, i) / U.At(i, i)
			for k := i; k < cols; k++ {
				W.Set(r, k, W.At(r, k)-e*U.At(i, k))
			}
			W.Set(r, i, 0)
		}
	}
	return W, keep
}

// TestSparseGPTMatchesNaive compares the blocked, parallel SparseGPT with
// the plain algorithm on shapes that leave partial blocks, row chunks and
// factorization blocks, with a dead input channel.
func TestSparseGPTMatchesNaive(t *testing.T) {
	cases := []struct {
		rows, cols int
		p          Pattern
	}{
		{37, 64, Pattern24}, {300, 392, Pattern24}, {130, 260, Pattern24},
		{70, 200, Pattern{N: 4, M: 8}}, {50, 132, Pattern{N: 1, M: 4}},
	}
	for _, tc := range cases {
		l := randomLayer(t, tc.rows, tc.cols, 400, uint64(tc.rows))
		// A dead input: H's row and column j are zero.
		H := mat.NewSymDense(tc.cols, nil)
		H.CopySym(l.Stats.H)
		for k := 0; k < tc.cols; k++ {
			H.SetSym(5, k, 0)
		}
		l.Stats.H = H
		m := &SparseGPT{Pattern: tc.p, Config: DefaultSparseGPTConfig()}
		got, mask, err := m.prune(l)
		if err != nil {
			t.Fatal(err)
		}
		want, keep := naiveSparseGPT(t, l, tc.p, m.Config.Damp)
		for k, v := range keep {
			if mask.Keep[k] != v {
				t.Fatalf("%+v: mask differs at %d", tc, k)
			}
		}
		var d mat.Dense
		d.Sub(got, want)
		if e := mat.Norm(&d, math.Inf(1)); e > 1e-10*mat.Norm(want, math.Inf(1)) {
			t.Fatalf("%+v: max |Δ| row sum %g vs %g", tc, e, mat.Norm(want, math.Inf(1)))
		}
	}
}

// TestSparseGPTDeterministicAcrossThreads checks that H, SparseGPT's weights
// and mask and its output error are bitwise identical whatever the number
// of cores.
func TestSparseGPTDeterministicAcrossThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	type out struct {
		H    []float64
		What []float64
		keep []bool
		oe   float64
	}
	var ref *out
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		l := randomLayer(t, 300, 520, 333, 4)
		l.X = nil // output error from H
		m := &SparseGPT{Pattern: Pattern24, Config: DefaultSparseGPTConfig()}
		res, err := m.Prune(l)
		if err != nil {
			t.Fatal(err)
		}
		o := &out{H: l.Stats.H.RawSymmetric().Data, What: res.What.RawMatrix().Data, keep: res.Mask.Keep, oe: res.OutputError}
		if ref == nil {
			ref = o
			continue
		}
		for k := range o.H {
			if math.Float64bits(o.H[k]) != math.Float64bits(ref.H[k]) {
				t.Fatalf("GOMAXPROCS=%d: H[%d] differs", procs, k)
			}
		}
		for k := range o.What {
			if math.Float64bits(o.What[k]) != math.Float64bits(ref.What[k]) || o.keep[k] != ref.keep[k] {
				t.Fatalf("GOMAXPROCS=%d: entry %d differs", procs, k)
			}
		}
		if math.Float64bits(o.oe) != math.Float64bits(ref.oe) {
			t.Fatalf("GOMAXPROCS=%d: output error %v, want %v", procs, o.oe, ref.oe)
		}
	}
}

// TestOutputErrorFromHessianMatchesX compares the output error from H with
// the one measured on the activations themselves.
func TestOutputErrorFromHessianMatchesX(t *testing.T) {
	for _, sh := range [][2]int{{40, 64}, {200, 300}} {
		l := randomLayer(t, sh[0], sh[1], 250, 11)
		What := mat.DenseCopyOf(l.W)
		data := What.RawMatrix().Data
		for k := range data {
			if k%3 != 0 {
				data[k] *= 0.9
			}
		}
		want, err := OutputError(l.X, l.W, What)
		if err != nil {
			t.Fatal(err)
		}
		got, err := OutputErrorFromHessian(l.Stats.H, l.W, What)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-11*want {
			t.Fatalf("%v: from H %.17g, from X %.17g", sh, got, want)
		}
	}
}

// TestSparseGPTNotPositiveDefinite checks that an H no dampening can rescue
// (negative definite, so λ·mean(diag H) < 0 too) gives an error, not a panic
// or a result.
func TestSparseGPTNotPositiveDefinite(t *testing.T) {
	l := randomLayer(t, 20, 300, 50, 3)
	H := mat.NewSymDense(300, nil)
	for j := 0; j < 300; j++ {
		H.SetSym(j, j, -1)
	}
	l.Stats.H = H
	m := &SparseGPT{Pattern: Pattern24, Config: DefaultSparseGPTConfig()}
	if _, err := m.Prune(l); err == nil {
		t.Fatal("want an error for an indefinite H")
	}
}
