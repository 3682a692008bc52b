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
			want[w] += float64(x[u*ld+w]) * coef[u]
			if w >= done {
				got[w] += float64(x[u*ld+w]) * coef[u]
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
		wg[v] += au * d[v]
		wtg[v] += tu * d[v]
		wgs[v] += tu * bdh[v]
		if v >= k {
			g[v] += au * d[v]
			tg[v] += tu * d[v]
			gs[v] += tu * bdh[v]
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
