package methods

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
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
// sparse-core step) and reports the achieved GFLOP/s.
func BenchmarkARMORIteration(b *testing.B) {
	for _, tc := range []struct{ d, bs int }{{512, 32}, {512, 128}, {1024, 32}, {1024, 128}, {2048, 32}, {2048, 128}} {
		b.Run(fmt.Sprintf("d%d/b%d", tc.d, tc.bs), func(b *testing.B) {
			if testing.Short() && tc.d > 1024 {
				b.Skip("large shape skipped in -short mode")
			}
			l := benchLayer(b, tc.d, tc.d, 64, false)
			norm := Normalize(l.W)
			st, err := NewARMORState(norm, l.Stats.Hdiag, Pattern24, tc.bs, 0)
			if err != nil {
				b.Fatal(err)
			}
			cfg := DefaultARMORConfig()
			cfg.BlockSize = tc.bs
			run := newARMORRun(st, cfg)
			if _, err := run.iteration(); err != nil { // warm-up: allocates the gradient state
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := run.iteration(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(armorIterFlops(tc.d, tc.d, tc.bs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
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

// BenchmarkHessian times accumulating H from 2048 rows of d activations.
func BenchmarkHessian(b *testing.B) {
	for _, d := range []int{1024, 2048} {
		b.Run(fmt.Sprintf("d%d", d), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			X := mat.NewDense(2048, d, nil)
			for k := range X.RawMatrix().Data {
				X.RawMatrix().Data[k] = rng.NormFloat64()
			}
			b.ResetTimer()
			defer reportCPU(b, cpuTime())
			for i := 0; i < b.N; i++ {
				if _, err := StatsFromActivations(X, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMaskMethods times Wanda and NoWag-P (mask only) at d × d.
func BenchmarkMaskMethods(b *testing.B) {
	for _, d := range []int{1024, 2048} {
		l := benchLayer(b, d, d, 16, false)
		for _, m := range []Method{&Wanda{Pattern: Pattern24}, &NoWagP{Pattern: Pattern24}} {
			b.Run(fmt.Sprintf("%s/d%d", m.Name(), d), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := m.Prune(l); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDgemm measures this machine's float64 matrix-product rate through
// the same BLAS path the kernels use, as the yardstick for GFLOP/s figures.
func BenchmarkDgemm(b *testing.B) {
	for _, n := range []int{32, 128, 1024} {
		b.Run(fmt.Sprintf("n%d", n), func(b *testing.B) {
			a := blas64.General{Rows: n, Cols: n, Stride: n, Data: make([]float64, n*n)}
			c := blas64.General{Rows: n, Cols: n, Stride: n, Data: make([]float64, n*n)}
			for k := range a.Data {
				a.Data[k] = float64(k%7) - 3
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, a, a, 0, c)
			}
			b.ReportMetric(2*float64(n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkARMORIterationLlama7B times one ARMOR iteration on Llama-2-7B's
// shapes (4096 × 4096 attention, 4096 × 11008 MLP) and reports the process's
// peak resident memory. It needs several GiB, so it runs only with
// ARMOR_BENCH_LARGE=1.
func BenchmarkARMORIterationLlama7B(b *testing.B) {
	if os.Getenv("ARMOR_BENCH_LARGE") == "" {
		b.Skip("set ARMOR_BENCH_LARGE=1 to run the Llama-2-7B shapes (several GiB)")
	}
	for _, tc := range []struct{ dOut, dIn int }{{4096, 4096}, {4096, 11008}} {
		b.Run(fmt.Sprintf("%dx%d/b128", tc.dOut, tc.dIn), func(b *testing.B) {
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
			st, err := NewARMORState(norm, h, Pattern24, 128, 0)
			if err != nil {
				b.Fatal(err)
			}
			cfg := DefaultARMORConfig()
			cfg.BlockSize = 128
			run := newARMORRun(st, cfg)
			run.save(st.Loss())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := run.iteration(); err != nil {
					b.Fatal(err)
				}
				run.save(st.Loss())
			}
			b.StopTimer()
			b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
			b.ReportMetric(float64(tc.dOut*tc.dIn)*8/(1<<20), "MiB-per-matrix")
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
