//go:build amd64 && !purego

package methods

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// TestSgemmFMA checks the assembly product against a float64 loop: bitwise
// on integer-valued inputs (every sum exact, so any index, stride, tail or
// accumulation slip shows), and to float32 rounding on random inputs, for
// both orientations of A and B, row tails, several panels, K-blocking, k = 0 and
// every starting value (zero, c itself, another matrix, its negation).
func TestSgemmFMA(t *testing.T) {
	if !haveSgemmFMA {
		t.Skip("no AVX2/FMA assembly in this build")
	}
	cases := []struct{ m, n, k int }{
		{3, 16, 0}, {1, 16, 1}, {5, 16, 3}, {6, 32, 7}, {7, 16, 5}, {13, 48, 130}, {128, 128, 128}, {20, 32, sgemmKC + 37}, {9, sgemmNC + 144, sgemmKC + 9},
	}
	for _, tc := range cases {
		for _, trans := range []bool{false, true} {
			for _, bt := range []bool{false, true} {
				for _, from := range []string{"zero", "c", "f", "-f"} {
					for _, integer := range []bool{true, false} {
						name := fmt.Sprintf("%dx%dx%d/trans=%v/bt=%v/from=%s/int=%v", tc.m, tc.n, tc.k, trans, bt, from, integer)
						t.Run(name, func(t *testing.T) {
							rng := rand.New(rand.NewPCG(uint64(tc.m*1000+tc.k), 3))
							draw := func(n int) []float32 {
								x := make([]float32, n)
								for i := range x {
									if integer {
										x[i] = float32(rng.IntN(7) - 3)
									} else {
										x[i] = float32(rng.NormFloat64())
									}
								}
								return x
							}
							// A stored m × (k+2) (or k × (m+3) when transposed), B k × (n+5),
							// C m × (n+4): strides larger than the used widths.
							var a []float32
							rs, ks := tc.k+2, 1
							if trans {
								rs, ks = 1, tc.m+3
								a = draw(tc.k * ks)
							} else {
								a = draw(tc.m * rs)
							}
							// B is k × n with row stride n+5, or n × k with row stride
							// k+3 when transposed.
							ldb, ldc := tc.n+5, tc.n+4
							bAt := func(p, j int) int { return p*ldb + j }
							b := draw(max(1, tc.k) * ldb)
							if bt {
								ldb = tc.k + 3
								bAt = func(p, j int) int { return j*ldb + p }
								b = draw(tc.n * ldb)
							}
							c := draw(tc.m * ldc)
							ldf := tc.n + 1
							fm := draw(tc.m * ldf)
							want := make([]float64, len(c))
							for i := range c {
								want[i] = float64(c[i])
							}
							for r := 0; r < tc.m; r++ {
								for j := 0; j < tc.n; j++ {
									s := 0.0
									for p := 0; p < tc.k; p++ {
										s += float64(a[r*rs+p*ks]) * float64(b[bAt(p, j)])
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
							var f []float32
							switch from {
							case "c":
								f, ldf = c, ldc
							case "f", "-f":
								f = fm
							}
							if !sgemmFMA(tc.m, tc.n, tc.k, a, rs, ks, b, ldb, bt, c, ldc, f, ldf, from == "-f") {
								t.Fatal("sgemmFMA refused a multiple of 16")
							}
							for i := range c {
								tol := 0.0
								if !integer {
									tol = 1e-5 * float64(tc.k+1)
								}
								if d := math.Abs(float64(c[i]) - want[i]); d > tol {
									t.Fatalf("entry (%d, %d): got %v, want %v", i/ldc, i%ldc, c[i], want[i])
								}
							}
						})
					}
				}
			}
		}
	}
	if sgemmFMA(4, 8, 4, make([]float32, 16), 4, 1, make([]float32, 32), 8, false, make([]float32, 32), 8, nil, 0, false) {
		t.Error("sgemmFMA accepted n = 8")
	}
}

// BenchmarkSgemmFMA compares the assembly kernel with blas32.Gemm (OpenBLAS
// with -tags openblas) on the two shapes of ARMOR's tile products at
// d = 1024, b = 128, single-threaded.
func BenchmarkSgemmFMA(b *testing.B) {
	shapes := []struct {
		name    string
		m, n, k int
	}{{"col-panel-1024x128x128", 1024, 128, 128}, {"row-panel-128x1024x128", 128, 1024, 128}, {"long-k-128x128x1024", 128, 128, 1024}}
	for _, s := range shapes {
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, s.m*s.k)
		y := make([]float32, s.k*s.n)
		z := make([]float32, s.m*s.n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range y {
			y[i] = float32(rng.NormFloat64())
		}
		flops := 2 * float64(s.m*s.n*s.k)
		b.Run(s.name+"/fma", func(b *testing.B) {
			if !haveSgemmFMA {
				b.Skip("no assembly")
			}
			for b.Loop() {
				sgemmFMA(s.m, s.n, s.k, x, s.k, 1, y, s.n, false, z, s.n, nil, 0, false)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(s.name+"/blas", func(b *testing.B) {
			for b.Loop() {
				blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, blas32.General{Rows: s.m, Cols: s.k, Stride: s.k, Data: x},
					blas32.General{Rows: s.k, Cols: s.n, Stride: s.n, Data: y}, 0, blas32.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: z})
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
