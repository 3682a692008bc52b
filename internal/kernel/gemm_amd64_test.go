//go:build amd64 && !purego

package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// TestGemmFMA checks the assembly products of both precisions against a
// float64 loop: bitwise on integer-valued inputs (every sum exact, so any
// index, stride, tail or accumulation slip shows), and to rounding on random
// inputs, for both orientations of A and B, row tails, several panels,
// K- and N-blocking, k = 0 and every starting value (zero, c itself, another
// matrix, its negation).
func TestGemmFMA(t *testing.T) {
	if !haveGemmFMA {
		t.Skip("no AVX2/FMA assembly in this build")
	}
	t.Run("float32", testGemmFMA[float32])
	t.Run("float64", testGemmFMA[float64])
}

func testGemmFMA[T Float](t *testing.T) {
	w := 16
	if _, f64 := any(T(0)).(float64); f64 {
		w = 8
	}
	cases := []struct{ m, n, k int }{
		{3, w, 0}, {1, w, 1}, {5, w, 3}, {6, 2 * w, 7}, {7, w, 5}, {13, 3 * w, 130}, {128, 128, 128},
		{20, 2 * w, gemmKC + 37}, {9, 17 * w, gemmKC + 9},
	}
	for _, tc := range cases {
		for _, trans := range []bool{false, true} {
			for _, bt := range []bool{false, true} {
				for _, from := range []string{"zero", "c", "f", "-f"} {
					for _, integer := range []bool{true, false} {
						name := fmt.Sprintf("%dx%dx%d/trans=%v/bt=%v/from=%s/int=%v", tc.m, tc.n, tc.k, trans, bt, from, integer)
						t.Run(name, func(t *testing.T) {
							checkGemmFMA[T](t, tc.m, tc.n, tc.k, trans, bt, from, integer)
						})
					}
				}
			}
		}
	}
	if gemmFMA(4, w/2, 4, make([]T, 16), 4, 1, make([]T, 32), 8, false, make([]T, 32), 8, nil, 0, false) {
		t.Errorf("gemmFMA accepted n = %d", w/2)
	}
}

func checkGemmFMA[T Float](t *testing.T, m, n, k int, trans, bt bool, from string, integer bool) {
	rng := rand.New(rand.NewPCG(uint64(m*1000+k), 3))
	draw := func(n int) []T {
		x := make([]T, n)
		for i := range x {
			if integer {
				x[i] = T(rng.IntN(7) - 3)
			} else {
				x[i] = T(rng.NormFloat64())
			}
		}
		return x
	}
	// A stored m × (k+2) (or k × (m+3) when transposed); B k × (n+5) (or
	// n × (k+3) when transposed); C m × (n+4); F m × (n+1): strides larger
	// than the used widths.
	rs, ks := k+2, 1
	a := draw(m * rs)
	if trans {
		rs, ks = 1, m+3
		a = draw(max(1, k) * ks)
	}
	ldb := n + 5
	bAt := func(p, j int) int { return p*ldb + j }
	b := draw(max(1, k) * ldb)
	if bt {
		ldb = k + 3
		bAt = func(p, j int) int { return j*ldb + p }
		b = draw(n * ldb)
	}
	ldc, ldf := n+4, n+1
	c, fm := draw(m*ldc), draw(m*ldf)
	want := make([]float64, len(c))
	for i := range c {
		want[i] = float64(c[i])
	}
	for r := 0; r < m; r++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for p := 0; p < k; p++ {
				s += float64(float64(a[r*rs+p*ks]) * float64(b[bAt(p, j)]))
			}
			switch from {
			case "c":
				s += float64(c[r*ldc+j])
			case "f":
				s += float64(fm[r*ldf+j])
			case "-f":
				s -= float64(fm[r*ldf+j])
			}
			want[r*ldc+j] = s
		}
	}
	var f []T
	switch from {
	case "c":
		f, ldf = c, ldc
	case "f", "-f":
		f = fm
	}
	if !gemmFMA(m, n, k, a, rs, ks, b, ldb, bt, c, ldc, f, ldf, from == "-f") {
		t.Fatal("gemmFMA refused a multiple of the panel width")
	}
	tol := 0.0
	if !integer {
		tol = 1e-5 * float64(k+1)
	}
	for i := range c {
		if d := math.Abs(float64(c[i]) - want[i]); d > tol {
			t.Fatalf("entry (%d, %d): got %v, want %v", i/ldc, i%ldc, c[i], want[i])
		}
	}
}

// BenchmarkGemmFMA compares the assembly kernels with blas32/blas64.Gemm
// (OpenBLAS with -tags openblas) on the three shapes of ARMOR's tile
// products at d = 1024, b = 128, single-threaded.
func BenchmarkGemmFMA(b *testing.B) {
	b.Run("float32", benchGemmFMA[float32])
	b.Run("float64", benchGemmFMA[float64])
}

func benchGemmFMA[T Float](b *testing.B) {
	shapes := []struct {
		name    string
		m, n, k int
	}{{"col-panel-1024x128x128", 1024, 128, 128}, {"row-panel-128x1024x128", 128, 1024, 128}, {"long-k-128x128x1024", 128, 128, 1024}}
	for _, s := range shapes {
		rng := rand.New(rand.NewPCG(1, 2))
		x, y, z := make([]T, s.m*s.k), make([]T, s.k*s.n), make([]T, s.m*s.n)
		for i := range x {
			x[i] = T(rng.NormFloat64())
		}
		for i := range y {
			y[i] = T(rng.NormFloat64())
		}
		flops := 2 * float64(s.m*s.n*s.k)
		b.Run(s.name+"/fma", func(b *testing.B) {
			if !haveGemmFMA {
				b.Skip("no assembly")
			}
			for b.Loop() {
				gemmFMA(s.m, s.n, s.k, x, s.k, 1, y, s.n, false, z, s.n, nil, 0, false)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(s.name+"/blas", func(b *testing.B) {
			for b.Loop() {
				switch xs := any(x).(type) {
				case []float32:
					blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, blas32.General{Rows: s.m, Cols: s.k, Stride: s.k, Data: xs},
						blas32.General{Rows: s.k, Cols: s.n, Stride: s.n, Data: any(y).([]float32)}, 0, blas32.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: any(z).([]float32)})
				case []float64:
					blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, blas64.General{Rows: s.m, Cols: s.k, Stride: s.k, Data: xs},
						blas64.General{Rows: s.k, Cols: s.n, Stride: s.n, Data: any(y).([]float64)}, 0, blas64.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: any(z).([]float64)})
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
