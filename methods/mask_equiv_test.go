package methods

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The fused mask-only kernels (maskOnly, NoWagMask, Normalize, ProxyLoss)
// promise bitwise the numbers of the straightforward whole-matrix code they
// replaced. These tests keep that code, as the specification, and compare.

// specNormalize is the whole-matrix NoWag normalization: column sums of
// squares in one row-major pass, then each row divided and normalized.
func specNormalize(W mat.Matrix) *Normalization {
	src := mat.DenseCopyOf(W)
	rows, cols := src.Dims()
	n := &Normalization{R: make([]float64, rows), C: make([]float64, cols), Wbar: src}
	for i := 0; i < rows; i++ {
		for j, v := range src.RawRowView(i) {
			n.C[j] += v * v
		}
	}
	for j, s := range n.C {
		n.C[j] = math.Sqrt(s) + normEps
	}
	for i := 0; i < rows; i++ {
		row := src.RawRowView(i)
		s := 0.0
		for j := range row {
			row[j] /= n.C[j]
			s += float64(row[j] * row[j])
		}
		n.R[i] = math.Sqrt(s) + normEps
		for j := range row {
			row[j] /= n.R[i]
		}
	}
	return n
}

// specProxyLoss is ALGORITHMS.md's L(Ŵ) with per-row sums added in row order.
func specProxyLoss(n *Normalization, hdiag []float64, What mat.Matrix) float64 {
	rows, _ := n.Wbar.Dims()
	num, den := 0.0, 0.0
	for i := 0; i < rows; i++ {
		sn, sd := 0.0, 0.0
		for j, v := range n.Wbar.RawRowView(i) {
			d := What.At(i, j)/(n.R[i]*n.C[j]) - v
			sn += float64(hdiag[j] * d * d)
			sd += float64(hdiag[j] * v * v)
		}
		num += sn
		den += sd
	}
	return num / den
}

// specProxyLossPruned is the mask-only shortcut: for Ŵ = W⊙M the error in
// normalized space is the pruned entries of W̄ (up to rounding in the kept
// ones), so L = Σ_pruned h_j W̄_ij² / Σ h_j W̄_ij².
func specProxyLossPruned(n *Normalization, hdiag []float64, m *Mask) float64 {
	rows, cols := n.Wbar.Dims()
	num, den := 0.0, 0.0
	for i := 0; i < rows; i++ {
		for j, v := range n.Wbar.RawRowView(i) {
			t := float64(hdiag[j] * v * v)
			den += t
			if !m.Keep[i*cols+j] {
				num += t
			}
		}
	}
	return num / den
}

// specTopN is the sequential selection, top2of4 for 2:4, else a partial
// selection sort; ties to the lower column.
func specTopN(score []float64, rows, cols int, p Pattern) []bool {
	keep := make([]bool, rows*cols)
	for g := 0; g < rows*cols; g += p.M {
		if p == Pattern24 {
			a, b := top2of4(score[g : g+4])
			keep[g+a], keep[g+b] = true, true
			continue
		}
		idx := make([]int, p.M)
		for k := range idx {
			idx[k] = k
		}
		for a := 0; a < p.N; a++ {
			best := a
			for b := a + 1; b < p.M; b++ {
				if score[g+idx[b]] > score[g+idx[best]] ||
					(score[g+idx[b]] == score[g+idx[best]] && idx[b] < idx[best]) {
					best = b
				}
			}
			idx[a], idx[best] = idx[best], idx[a]
			keep[g+idx[a]] = true
		}
	}
	return keep
}

// specMaskOnly is a mask-only method done the whole-matrix way.
func specMaskOnly(t *testing.T, name string, p Pattern, l *Layer) (keep []bool, What *mat.Dense, loss float64) {
	t.Helper()
	rows, cols := l.W.Dims()
	norm := specNormalize(l.W)
	score := make([]float64, rows*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			w, wb := l.W.At(i, j), norm.Wbar.At(i, j)
			switch name {
			case "magnitude":
				score[i*cols+j] = math.Abs(w)
			case "wanda":
				v := l.Stats.Hdiag[j] / 2
				if len(l.Stats.WandaNorm) == cols {
					v = l.Stats.WandaNorm[j]
				}
				score[i*cols+j] = math.Abs(w) * math.Sqrt(math.Max(v, 0))
			case "nowag":
				score[i*cols+j] = wb * wb * l.Stats.Hdiag[j]
			default:
				t.Fatalf("no spec for %s", name)
			}
		}
	}
	keep = specTopN(score, rows, cols, p)
	What = mat.NewDense(rows, cols, nil)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if keep[i*cols+j] {
				What.Set(i, j, l.W.At(i, j))
			}
		}
	}
	return keep, What, specProxyLoss(norm, l.Stats.Hdiag, What)
}

// equivLayer is a small random layer; quantized weights give many ties, and
// optionally W is a strided view into a wider matrix.
func equivLayer(t *testing.T, rows, cols int, seed uint64, ties, strided bool) *Layer {
	t.Helper()
	l := randomLayer(t, rows, cols, 16, seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	if ties {
		for k, v := range l.W.RawMatrix().Data {
			l.W.RawMatrix().Data[k] = math.Round(v*200) / 200
		}
		for j := range l.Stats.WandaNorm {
			if rng.IntN(3) == 0 {
				l.Stats.WandaNorm[j] = 1
			}
		}
	}
	if strided {
		wide := mat.NewDense(rows, cols+5, nil)
		for k := range wide.RawMatrix().Data {
			wide.RawMatrix().Data[k] = math.NaN() // must never be read
		}
		v := wide.Slice(0, rows, 2, 2+cols).(*mat.Dense)
		v.Copy(l.W)
		l.W = v
	}
	l.X = nil // the output error is not what these tests are about
	l.Stats.H = nil
	return l
}

// plainMatrix hides the *mat.Dense behind a mat.Matrix, to test the generic path.
type plainMatrix struct{ mat.Matrix }

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

func TestMaskOnlyMatchesSpecBitwise(t *testing.T) {
	patterns := []Pattern{Pattern24, {N: 1, M: 4}, {N: 3, M: 4}, {N: 2, M: 8}, {N: 4, M: 8}}
	shapes := [][2]int{{1, 8}, {37, 64}, {64, 40}, {130, 96}}
	for _, p := range patterns {
		for _, sh := range shapes {
			if sh[1]%p.M != 0 {
				continue
			}
			for _, variant := range []struct{ ties, strided bool }{{false, false}, {true, false}, {false, true}} {
				l := equivLayer(t, sh[0], sh[1], uint64(sh[0]*sh[1]+p.M), variant.ties, variant.strided)
				for _, m := range []Method{&Magnitude{Pattern: p}, &Wanda{Pattern: p}, &NoWagP{Pattern: p}} {
					name := fmt.Sprintf("%s/%s/%dx%d/ties=%v/strided=%v", m.Name(), p, sh[0], sh[1], variant.ties, variant.strided)
					t.Run(name, func(t *testing.T) {
						res, err := m.Prune(l)
						if err != nil {
							t.Fatal(err)
						}
						keep, What, loss := specMaskOnly(t, m.Name(), p, l)
						checkMaskOnly(t, res, keep, What, loss)
						if err := res.Mask.Satisfies(p); err != nil {
							t.Fatal(err)
						}
						// The pruned-entries shortcut agrees to rounding.
						short := specProxyLossPruned(specNormalize(l.W), l.Stats.Hdiag, res.Mask)
						if math.Abs(short-res.ProxyLoss) > 1e-12*math.Abs(res.ProxyLoss) {
							t.Fatalf("pruned-entries loss %.17g, general %.17g", short, res.ProxyLoss)
						}
					})
				}
			}
		}
	}
}

func checkMaskOnly(t *testing.T, res *Result, keep []bool, What *mat.Dense, loss float64) {
	t.Helper()
	for k := range keep {
		if keep[k] != res.Mask.Keep[k] {
			t.Fatalf("mask differs at %d", k)
		}
	}
	rows, cols := What.Dims()
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if !sameBits(What.At(i, j), res.What.At(i, j)) {
				t.Fatalf("Ŵ(%d, %d) = %v, want %v", i, j, res.What.At(i, j), What.At(i, j))
			}
		}
	}
	if !sameBits(res.ProxyLoss, loss) {
		t.Fatalf("proxy loss %.17g, want bitwise %.17g", res.ProxyLoss, loss)
	}
	if !math.IsNaN(res.OutputError) {
		t.Fatalf("output error %v without X or H, want NaN", res.OutputError)
	}
}

// TestWandaNonFiniteScale: WandaNorm is kept exactly as measured, so a NaN or
// infinite scale makes NaN scores, which must select as the sequential code did.
func TestWandaNonFiniteScale(t *testing.T) {
	l := equivLayer(t, 20, 32, 5, true, false)
	l.Stats.WandaNorm[1] = math.NaN()
	l.Stats.WandaNorm[6] = math.Inf(1)
	l.Stats.WandaNorm[9] = -1
	l.W.Set(3, 6, 0) // 0·∞ = NaN
	res, err := (&Wanda{Pattern: Pattern24}).Prune(l)
	if err != nil {
		t.Fatal(err)
	}
	keep, What, loss := specMaskOnly(t, "wanda", Pattern24, l)
	checkMaskOnly(t, res, keep, What, loss)
}

func TestKeep2of4MatchesTop2of4(t *testing.T) {
	vals := []float64{-1, 0, 1, 2, math.NaN(), math.Inf(1), math.Inf(-1)}
	s := make([]float64, 4)
	var rec func(k int)
	rec = func(k int) {
		if k == 4 {
			keep := make([]bool, 4)
			keep2of4(s, keep)
			a, b := top2of4(s)
			want := make([]bool, 4)
			want[a], want[b] = true, true
			for q := range keep {
				if keep[q] != want[q] {
					t.Fatalf("scores %v: keep2of4 %v, top2of4 %v", s, keep, want)
				}
			}
			return
		}
		for _, v := range vals {
			s[k] = v
			rec(k + 1)
		}
	}
	rec(0)
}

func TestNormalizationMatchesSpecBitwise(t *testing.T) {
	for _, strided := range []bool{false, true} {
		l := equivLayer(t, 67, 200, 3, false, strided)
		got, want := Normalize(l.W), specNormalize(l.W)
		for j := range want.C {
			if !sameBits(got.C[j], want.C[j]) {
				t.Fatalf("C[%d] = %v, want %v", j, got.C[j], want.C[j])
			}
		}
		for i := range want.R {
			if !sameBits(got.R[i], want.R[i]) {
				t.Fatalf("R[%d] = %v, want %v", i, got.R[i], want.R[i])
			}
		}
		if !mat.Equal(got.Wbar, want.Wbar) {
			t.Fatal("Wbar differs")
		}
		m, err := NoWagMask(got, l.Stats.Hdiag, Pattern24)
		if err != nil {
			t.Fatal(err)
		}
		What := mat.DenseCopyOf(l.W)
		for i := 0; i < 67; i++ {
			for j := 0; j < 200; j++ {
				if !m.At(i, j) {
					What.Set(i, j, 0)
				}
			}
		}
		if L, want := got.ProxyLoss(l.Stats.Hdiag, What), specProxyLoss(want, l.Stats.Hdiag, What); !sameBits(L, want) {
			t.Fatalf("ProxyLoss %.17g, want %.17g", L, want)
		}
		// Through a non-Dense matrix too.
		if L, want := got.ProxyLoss(l.Stats.Hdiag, plainMatrix{What}), specProxyLoss(want, l.Stats.Hdiag, What); !sameBits(L, want) {
			t.Fatalf("ProxyLoss of a mat.Matrix %.17g, want %.17g", L, want)
		}
		Wn := got.ToNormalized(What)
		if L, L2 := got.ProxyLossNormalized(l.Stats.Hdiag, Wn), got.ProxyLoss(l.Stats.Hdiag, What); math.Abs(L-L2) > 1e-12*L2 {
			t.Fatalf("ProxyLossNormalized %.17g, ProxyLoss %.17g", L, L2)
		}
		back := got.FromNormalized(got.Wbar)
		var d mat.Dense
		d.Sub(back, l.W)
		if e := mat.Norm(&d, math.Inf(1)); e > 1e-14 {
			t.Fatalf("FromNormalized(Wbar) is %.3g from W", e)
		}
		if den := got.ProxyDenominator(l.Stats.Hdiag); !sameBits(got.ProxyLoss(l.Stats.Hdiag, mat.NewDense(67, 200, nil)), 1) {
			t.Fatalf("L(0) ≠ 1 (denominator %v)", den)
		}
	}
}

// TestMaskMethodsThreadIndependent: 1 and 2 threads give bitwise the same
// results (kernel.For follows GOMAXPROCS by default).
func TestMaskMethodsThreadIndependent(t *testing.T) {
	l := randomLayer(t, 96, 256, 32, 4)
	run := func(procs int) []*Result {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		var out []*Result
		for _, m := range []Method{&Magnitude{Pattern: Pattern24}, &Wanda{Pattern: Pattern24}, &NoWagP{Pattern: Pattern24}} {
			res, err := m.Prune(l)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res)
		}
		return out
	}
	one, two := run(1), run(2)
	for k := range one {
		a, b := one[k], two[k]
		if !mat.Equal(a.What, b.What) || !sameBits(a.ProxyLoss, b.ProxyLoss) || !sameBits(a.OutputError, b.OutputError) {
			t.Fatalf("%s: 1 thread gives loss %.17g / error %.17g, 2 threads %.17g / %.17g",
				a.Method, a.ProxyLoss, a.OutputError, b.ProxyLoss, b.OutputError)
		}
		for q := range a.Mask.Keep {
			if a.Mask.Keep[q] != b.Mask.Keep[q] {
				t.Fatalf("%s: masks differ at %d", a.Method, q)
			}
		}
	}
}

func TestCheckRejectsNonFinite(t *testing.T) {
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		l := equivLayer(t, 40, 64, 8, false, false)
		l.W.Set(33, 17, bad)
		l.W.Set(35, 3, bad)
		err := l.Check(Pattern24)
		if err == nil {
			t.Fatalf("W with %v accepted", bad)
		}
		if want := fmt.Sprintf("W has a non-finite entry %v at (33, 17)", bad); err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
	}
}

func TestHasNonFinite(t *testing.T) {
	finite := []float64{0, math.Copysign(0, -1), 1, -1, math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 1e308, 0x1p-1022}
	if hasNonFinite(finite) {
		t.Fatalf("%v reported non-finite", finite)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -math.NaN()} {
		if !hasNonFinite(append(append([]float64(nil), finite...), bad)) {
			t.Fatalf("%v not reported", bad)
		}
	}
}

// TestMaskOnlyRejectsNonFinite: the mask-only methods skip Check's scan of W
// and detect non-finite entries through the column norms; the error must be
// Check's.
func TestMaskOnlyRejectsNonFinite(t *testing.T) {
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		l := equivLayer(t, 40, 64, 8, false, true)
		l.W.Set(33, 17, bad)
		l.W.Set(35, 3, bad)
		want := l.Check(Pattern24)
		for _, m := range []Method{&Magnitude{Pattern: Pattern24}, &Wanda{Pattern: Pattern24}, &NoWagP{Pattern: Pattern24}} {
			_, err := m.Prune(l)
			if err == nil || err.Error() != want.Error() {
				t.Fatalf("%s with %v in W: error %v, want %v", m.Name(), bad, err, want)
			}
		}
	}
	// Finite entries whose squares overflow pass Check, and still prune.
	l := equivLayer(t, 8, 16, 8, false, false)
	l.W.Set(2, 5, 1e200)
	for _, m := range []Method{&Magnitude{Pattern: Pattern24}, &Wanda{Pattern: Pattern24}, &NoWagP{Pattern: Pattern24}} {
		res, err := m.Prune(l)
		if err != nil {
			t.Fatalf("%s with a huge finite entry: %v", m.Name(), err)
		}
		if err := res.Mask.Satisfies(Pattern24); err != nil {
			t.Fatal(err)
		}
	}
}
