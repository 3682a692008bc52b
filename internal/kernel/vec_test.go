package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The vector kernels are checked bit for bit against loops written out
// here, independently of loops.go, in every build: on amd64 that compares
// the assembly (plus its Go tail) with plain Go, with lengths that leave a
// tail and values spanning many magnitudes, so that a different order of
// operations would show in the last bits. The products are converted
// explicitly, so the expectations do not depend on GOAMD64 either.

func TestGroupL1(t *testing.T) {
	t.Run("float32", testGroupL1[float32])
	t.Run("float64", testGroupL1[float64])
}

func testGroupL1[T Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const rows, ng, ldx, ldw = 7, 11, 4*11 + 3, 11 + 2
	x := make([]T, rows*ldx)
	for i := range x {
		x[i] = T(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-6)))
	}
	w := make([]float64, rows*ldw)
	GroupL1(w, ldw, x, ldx, rows, ng)
	for r := 0; r < rows; r++ {
		for q := 0; q < ldw; q++ {
			want := 0.0 // beyond ng: untouched
			if q < ng {
				e := x[r*ldx+4*q:]
				want = ((math.Abs(float64(e[0])) + math.Abs(float64(e[1]))) + math.Abs(float64(e[2]))) + math.Abs(float64(e[3]))
			}
			if got := w[r*ldw+q]; math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("row %d group %d: got %v, want %v", r, q, got, want)
			}
		}
	}
}

func TestAccumRowsAndAxpy3(t *testing.T) {
	t.Run("float32", testAccumRowsAndAxpy3[float32])
	t.Run("float64", testAccumRowsAndAxpy3[float64])
}

func testAccumRowsAndAxpy3[T Float](t *testing.T) {
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
	AccumRows(got, x, ld, coef)
	for u := 0; u < rows; u++ {
		for w := range want {
			want[w] += float64(float64(x[u*ld+w]) * coef[u])
		}
	}
	for w := range want {
		if math.Float64bits(got[w]) != math.Float64bits(want[w]) {
			t.Fatalf("AccumRows entry %d: got %v, want %v", w, got[w], want[w])
		}
	}

	const m = 21
	g, tg, gs, d, bdh := draw(m), draw(m), draw(m), draw(m), draw(m)
	wg, wtg, wgs := append([]T(nil), g...), append([]T(nil), tg...), append([]T(nil), gs...)
	au, tu := draw(1)[0], draw(1)[0]
	Axpy3(g, tg, gs, d, bdh, au, tu)
	for v := range d {
		wg[v] += T(au * d[v])
		wtg[v] += T(tu * d[v])
		wgs[v] += T(tu * bdh[v])
	}
	for v := range d {
		if g[v] != wg[v] || tg[v] != wtg[v] || gs[v] != wgs[v] {
			t.Fatalf("Axpy3 entry %d: got (%v, %v, %v), want (%v, %v, %v)", v, g[v], tg[v], gs[v], wg[v], wtg[v], wgs[v])
		}
	}
}

func TestRank4(t *testing.T) {
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
		d := ((float64(d0*row(0, v)) + float64(d1*row(1, v))) + float64(d2*row(2, v))) + float64(d3*row(3, v))
		wantG[v] += float64(kr * d)
		wantW[v] += d
	}
	Rank4(grow, w, l, ld, d0, d1, d2, d3, kr)
	for v := 0; v < n; v++ {
		if math.Float64bits(grow[v]) != math.Float64bits(wantG[v]) || math.Float64bits(w[v]) != math.Float64bits(wantW[v]) {
			t.Fatalf("entry %d: got (%v, %v), want (%v, %v)", v, grow[v], w[v], wantG[v], wantW[v])
		}
	}
}

func TestKeepCopy(t *testing.T) {
	t.Run("float32", testKeepCopy[float32])
	t.Run("float64", testKeepCopy[float64])
}

func testKeepCopy[T Float](t *testing.T) {
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
	KeepCopy(s, v, keep)
	for k := range s {
		if math.Float64bits(float64(s[k])) != math.Float64bits(float64(want[k])) {
			t.Fatalf("entry %d: got %v, want %v", k, s[k], want[k])
		}
	}
}
