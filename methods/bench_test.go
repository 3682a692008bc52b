package methods

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// benchLayer is a random d_out × d_in layer with n calibration rows; the full
// H is gathered only when full is set.
func benchLayer(b *testing.B, dOut, dIn, n int, full bool) *Layer {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	W := mat.NewDense(dOut, dIn, nil)
	for k := range W.RawMatrix().Data {
		W.RawMatrix().Data[k] = 0.02 * rng.NormFloat64()
	}
	X := mat.NewDense(n, dIn, nil)
	for k := range X.RawMatrix().Data {
		X.RawMatrix().Data[k] = rng.NormFloat64()
	}
	st, err := StatsFromActivations(X, full)
	if err != nil {
		b.Fatal(err)
	}
	return &Layer{W: W, Stats: st}
}

// armorIterFlops counts the floating-point operations of one Adam iteration
// with gradient-sampled selection: 6 products of 2·b³ flops per tile
// (forward S·B and A·SB, T = AᵀG, ∂L/∂S = T·Bᵀ, ∂L/∂A, ∂L/∂B), i.e.
// 12·b·d_out·d_in; the sparse-core step's rank-one updates are O(d_out·d_in).
func armorIterFlops(dOut, dIn, b int) float64 { return 12 * float64(b) * float64(dOut) * float64(dIn) }

// BenchmarkARMORIteration times one ARMOR iteration (one Adam step + one
// sparse-core step) in float64 and float32 storage and reports the achieved
// GFLOP/s (compare BenchmarkGemm's rates from the same run), the median
// seconds of single iterations and the CPU seconds per iteration.
func BenchmarkARMORIteration(b *testing.B) {
	for _, tc := range []struct{ d, bs int }{{512, 32}, {512, 128}, {1024, 32}, {1024, 128}, {2048, 32}, {2048, 128}} {
		for _, prec := range []Precision{Float64, Float32} {
			b.Run(fmt.Sprintf("d%d/b%d/%s", tc.d, tc.bs, prec), func(b *testing.B) {
				if testing.Short() && tc.d > 1024 {
					b.Skip("large shape skipped in -short mode")
				}
				l := benchLayer(b, tc.d, tc.d, 64, false)
				norm := Normalize(l.W)
				cfg := DefaultARMORConfig()
				cfg.BlockSize = tc.bs
				var iterate func() (float64, error)
				if prec == Float32 {
					run, err := newARMORRun32(norm, l.Stats.Hdiag, Pattern24, cfg)
					if err != nil {
						b.Fatal(err)
					}
					iterate = run.iteration
				} else {
					st, err := NewARMORState(norm, l.Stats.Hdiag, Pattern24, tc.bs, 0)
					if err != nil {
						b.Fatal(err)
					}
					iterate = newARMORRun(st, cfg).iteration
				}
				if _, err := iterate(); err != nil { // warm-up: allocates the gradient state
					b.Fatal(err)
				}
				b.ResetTimer()
				defer reportCPU(b, cpuTime())
				secs := make([]float64, b.N)
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					if _, err := iterate(); err != nil {
						b.Fatal(err)
					}
					secs[i] = time.Since(t0).Seconds()
				}
				b.ReportMetric(armorIterFlops(tc.d, tc.d, tc.bs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				// The figures are medians of single iterations; the
				// mean (ns/op) is more sensitive to other processes.
				slices.Sort(secs)
				b.ReportMetric(secs[len(secs)/2], "median-s/iter")
			})
		}
	}
}

// BenchmarkSparseGPT times SparseGPT on a d × d layer with 2048 calibration
// rows, H given (see BenchmarkHessian for building it), evaluation included
// (see BenchmarkSparseGPTParts for the parts). It also reports CPU seconds
// per operation, less sensitive than wall time to other processes.
func BenchmarkSparseGPT(b *testing.B) {
	for _, d := range []int{1024, 2048} {
		b.Run(fmt.Sprintf("d%d", d), func(b *testing.B) {
			l := benchLayer(b, d, d, 2048, true)
			m := &SparseGPT{Pattern: Pattern24, Config: DefaultSparseGPTConfig()}
			b.ResetTimer()
			defer reportCPU(b, cpuTime())
			for i := 0; i < b.N; i++ {
				if _, err := m.Prune(l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHessian times accumulating H from 2048 rows of d activations,
// with float64 and float32 Gram products (Accumulator.SetGramPrecision).
func BenchmarkHessian(b *testing.B) {
	for _, d := range []int{1024, 2048} {
		for _, prec := range []Precision{Float64, Float32} {
			b.Run(fmt.Sprintf("d%d/gram=%s", d, prec), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(3, 4))
				X := mat.NewDense(2048, d, nil)
				for k := range X.RawMatrix().Data {
					X.RawMatrix().Data[k] = rng.NormFloat64()
				}
				b.ResetTimer()
				defer reportCPU(b, cpuTime())
				for i := 0; i < b.N; i++ {
					if _, err := StatsFromActivationsGram(X, true, prec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMaskMethods times the mask-only methods (Magnitude, Wanda,
// NoWag-P) at d × d, including the proxy loss (no H, so no output error). It
// also reports the process CPU time per call (cpu-s/op), which other jobs
// on a shared machine disturb less than wall time.
func BenchmarkMaskMethods(b *testing.B) {
	for _, d := range []int{1024, 2048} {
		l := benchLayer(b, d, d, 16, false)
		for _, m := range []Method{&Magnitude{Pattern: Pattern24}, &Wanda{Pattern: Pattern24}, &NoWagP{Pattern: Pattern24}} {
			b.Run(fmt.Sprintf("%s/d%d", m.Name(), d), func(b *testing.B) {
				cpu0 := processCPUSeconds()
				for i := 0; i < b.N; i++ {
					if _, err := m.Prune(l); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric((processCPUSeconds()-cpu0)/float64(b.N), "cpu-s/op")
			})
		}
	}
}

// BenchmarkGemm measures this machine's matrix-product rate through the same
// BLAS path the kernels use, in float64 and float32, on one goroutine and on
// two (each computing half of the rows, as the tile kernels split work): the
// yardstick for the GFLOP/s figures.
func BenchmarkGemm(b *testing.B) {
	for _, n := range []int{128, 1024} {
		for _, prec := range []Precision{Float64, Float32} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("n%d/%s/t%d", n, prec, threads), func(b *testing.B) {
					if prec == Float32 {
						benchGemm[float32](b, n, threads)
					} else {
						benchGemm[float64](b, n, threads)
					}
				})
			}
		}
	}
}

func benchGemm[T float](b *testing.B, n, threads int) {
	a := kernel.Mat[T]{Rows: n, Cols: n, Stride: n, Data: make([]T, n*n)}
	c := kernel.Mat[T]{Rows: n, Cols: n, Stride: n, Data: make([]T, n*n)}
	for k := range a.Data {
		a.Data[k] = T(k%7) - 3
	}
	half := n / threads
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		kernel.For(threads, threads, func(t int) {
			rows := func(m kernel.Mat[T]) kernel.Mat[T] {
				return kernel.Mat[T]{Rows: half, Cols: n, Stride: n, Data: m.Data[t*half*n:]}
			}
			kernel.Gemm(blas.NoTrans, blas.NoTrans, 1, rows(a), a, 0, rows(c))
		})
	}
	b.ReportMetric(2*float64(n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkARMORIterationLlama7B times one ARMOR iteration on Llama-2-7B's
// shapes (4096 × 4096 attention, 4096 × 11008 MLP) and reports the process's
// peak resident memory. It needs several GiB, so it runs only with
// ARMOR_BENCH_LARGE=1; ARMOR_BENCH_PRECISION=float32 measures the float32
// working set (one precision per process, since the peak is per process).
func BenchmarkARMORIterationLlama7B(b *testing.B) {
	if os.Getenv("ARMOR_BENCH_LARGE") == "" {
		b.Skip("set ARMOR_BENCH_LARGE=1 to run the Llama-2-7B shapes (several GiB)")
	}
	prec := Precision(os.Getenv("ARMOR_BENCH_PRECISION"))
	if prec == "" {
		prec = Float64
	}
	for _, tc := range []struct{ dOut, dIn int }{{4096, 4096}, {4096, 11008}} {
		b.Run(fmt.Sprintf("%dx%d/b128/%s", tc.dOut, tc.dIn, prec), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(5, 6))
			W := mat.NewDense(tc.dOut, tc.dIn, nil)
			for k := range W.RawMatrix().Data {
				W.RawMatrix().Data[k] = 0.02 * rng.NormFloat64()
			}
			h := make([]float64, tc.dIn)
			for j := range h {
				h[j] = math.Exp(rng.NormFloat64())
			}
			norm := Normalize(W)
			W = nil
			cfg := DefaultARMORConfig()
			cfg.BlockSize, cfg.Precision = 128, prec
			var run descentRun
			if prec == Float32 {
				r, err := newARMORRun32(norm, h, Pattern24, cfg)
				if err != nil {
					b.Fatal(err)
				}
				run = r
			} else {
				st, err := NewARMORState(norm, h, Pattern24, 128, 0)
				if err != nil {
					b.Fatal(err)
				}
				run = newARMORRun(st, cfg)
			}
			run.save(run.currentLoss())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				loss, err := run.iteration()
				if err != nil {
					b.Fatal(err)
				}
				run.save(loss)
			}
			b.StopTimer()
			b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
			b.ReportMetric(float64(tc.dOut*tc.dIn)*8/(1<<20), "MiB-per-float64-matrix")
		})
	}
}

// peakRSSMiB reads the process's peak resident set size (VmHWM) from
// /proc/self/status; NaN where that file does not exist.
func peakRSSMiB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return math.NaN()
}
