package methods

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestGroupL1Fast checks the assembly group norms bitwise against the scalar
// sum ((|x0| + |x1|) + |x2|) + |x3| in float64, with strides, a group count
// that leaves a remainder, and values spanning many magnitudes (so that a
// different summation order would show in the last bits).
func TestGroupL1Fast(t *testing.T) {
	t.Run("float32", testGroupL1Fast[float32])
	t.Run("float64", testGroupL1Fast[float64])
}

func testGroupL1Fast[T float](t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const rows, ng, ldx, ldw = 7, 11, 4*11 + 3, 11 + 2
	x := make([]T, rows*ldx)
	for i := range x {
		x[i] = T(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-6)))
	}
	w := make([]float64, rows*ldw)
	done := groupL1Fast(w, ldw, x, ldx, rows, ng)
	if !haveAdamAVX2 {
		if done != 0 {
			t.Fatalf("no assembly here, yet %d groups done", done)
		}
		t.Skip("no AVX2 assembly in this build")
	}
	if done != 8 {
		t.Fatalf("done %d groups per row, want 8", done)
	}
	for r := 0; r < rows; r++ {
		for q := 0; q < ldw; q++ {
			want := 0.0
			if q < done {
				e := x[r*ldx+4*q:]
				want = math.Abs(float64(e[0])) + math.Abs(float64(e[1])) + math.Abs(float64(e[2])) + math.Abs(float64(e[3]))
			}
			if got := w[r*ldw+q]; math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("row %d group %d: got %v, want %v", r, q, got, want)
			}
		}
	}
}

// TestAccumRowsAndAxpy3Fast checks the sparse-core step's vector kernels
// bitwise against the Go loops they replace, in both precisions, with
// lengths that leave a remainder for the caller.
func TestAccumRowsAndAxpy3Fast(t *testing.T) {
	t.Run("float32", testAccumRowsAndAxpy3Fast[float32])
	t.Run("float64", testAccumRowsAndAxpy3Fast[float64])
}

func testAccumRowsAndAxpy3Fast[T float](t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	draw := func(n int) []T {
		x := make([]T, n)
		for i := range x {
			x[i] = T(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(8)-4)))
		}
		return x
	}
	const rows, n, ld = 9, 22, 27
	x := draw(rows * ld)
	coef := make([]float64, rows)
	for i := range coef {
		coef[i] = rng.NormFloat64()
	}
	got, want := make([]float64, n), make([]float64, n)
	for i := range got {
		got[i] = rng.NormFloat64()
		want[i] = got[i]
	}
	done := accumRowsFast(got, x, ld, coef)
	if haveAdamAVX2 && done != 20 {
		t.Fatalf("accumRowsFast did %d entries, want 20", done)
	}
	for u := 0; u < rows; u++ {
		for w := range want {
			want[w] += float64(float64(x[u*ld+w]) * coef[u])
			if w >= done {
				got[w] += float64(float64(x[u*ld+w]) * coef[u])
			}
		}
	}
	for w := range want {
		if math.Float64bits(got[w]) != math.Float64bits(want[w]) {
			t.Fatalf("accumRows entry %d: got %v, want %v", w, got[w], want[w])
		}
	}

	const m = 21
	g, tg, gs, d, bdh := draw(m), draw(m), draw(m), draw(m), draw(m)
	wg, wtg, wgs := append([]T(nil), g...), append([]T(nil), tg...), append([]T(nil), gs...)
	au, tu := draw(1)[0], draw(1)[0]
	k := axpy3Fast(g, tg, gs, d, bdh, au, tu)
	if haveAdamAVX2 && k != m/(32/int(unsafe.Sizeof(au)))*(32/int(unsafe.Sizeof(au))) {
		t.Fatalf("axpy3Fast did %d entries", k)
	}
	for v := range d {
		wg[v] += T(au * d[v])
		wtg[v] += T(tu * d[v])
		wgs[v] += T(tu * bdh[v])
		if v >= k {
			g[v] += T(au * d[v])
			tg[v] += T(tu * d[v])
			gs[v] += T(tu * bdh[v])
		}
	}
	for v := range d {
		if g[v] != wg[v] || tg[v] != wtg[v] || gs[v] != wgs[v] {
			t.Fatalf("axpy3 entry %d: got (%v, %v, %v), want (%v, %v, %v)", v, g[v], tg[v], gs[v], wg[v], wtg[v], wgs[v])
		}
	}
	if !haveAdamAVX2 {
		t.Skip("no AVX2 assembly in this build: only the Go loops ran")
	}
}

// TestRank4Fast checks the sweep's rank-four row update bitwise against the
// Go loop it replaces, with a length that leaves a remainder.
func TestRank4Fast(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	const n, ld = 23, 29
	draw := func(n int) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(8)-4))
		}
		return x
	}
	l, grow, w := draw(3*ld+n), draw(n), draw(n)
	wantG, wantW := append([]float64(nil), grow...), append([]float64(nil), w...)
	d0, d1, d2, d3, kr := rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
	row := func(q, v int) float64 { return l[q*ld+v] }
	for v := 0; v < n; v++ {
		d := float64(d0*row(0, v)) + float64(d1*row(1, v)) + float64(d2*row(2, v)) + float64(d3*row(3, v))
		wantG[v] += float64(kr * d)
		wantW[v] += d
	}
	done := rank4Fast(grow, w, l, ld, d0, d1, d2, d3, kr)
	for v := done; v < n; v++ {
		d := float64(d0*row(0, v)) + float64(d1*row(1, v)) + float64(d2*row(2, v)) + float64(d3*row(3, v))
		grow[v] += float64(kr * d)
		w[v] += d
	}
	for v := 0; v < n; v++ {
		if math.Float64bits(grow[v]) != math.Float64bits(wantG[v]) || math.Float64bits(w[v]) != math.Float64bits(wantW[v]) {
			t.Fatalf("entry %d: got (%v, %v), want (%v, %v)", v, grow[v], w[v], wantG[v], wantW[v])
		}
	}
	if !haveAdamAVX2 {
		t.Skip("no AVX2 assembly in this build: only the Go loop ran")
	}
	if done != 20 {
		t.Fatalf("rank4Fast did %d entries, want 20", done)
	}
}

// TestKeepCopyFast checks the branch-free masked copy bitwise against the Go
// loop of refresh (pruned entries +0 whatever v holds), in both precisions.
func TestKeepCopyFast(t *testing.T) {
	t.Run("float32", testKeepCopyFast[float32])
	t.Run("float64", testKeepCopyFast[float64])
}

func testKeepCopyFast[T float](t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	const n = 27
	s, v, keep := make([]T, n), make([]T, n), make([]bool, n)
	for k := range v {
		v[k], s[k], keep[k] = T(rng.NormFloat64()), T(rng.NormFloat64()), rng.IntN(2) == 0
	}
	v[3], keep[3] = T(math.Copysign(0, -1)), true // −0 kept as −0
	want := make([]T, n)
	for k := range want {
		if keep[k] {
			want[k] = v[k]
		}
	}
	done := keepCopyFast(s, v, keep)
	for k := done; k < n; k++ {
		s[k] = 0
		if keep[k] {
			s[k] = v[k]
		}
	}
	for k := range s {
		if math.Float64bits(float64(s[k])) != math.Float64bits(float64(want[k])) {
			t.Fatalf("entry %d: got %v, want %v", k, s[k], want[k])
		}
	}
	if !haveAdamAVX2 {
		t.Skip("no AVX2 assembly in this build: only the Go loop ran")
	}
	if done == 0 {
		t.Fatal("keepCopyFast did nothing")
	}
}
