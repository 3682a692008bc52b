package methods

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU seconds per operation since start, a figure
// less sensitive than wall time to other processes sharing the cores.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkSparseGPTParts times SparseGPT's parts on a d × d layer with 2048
// calibration rows, in both precisions (sub-benchmarks …/prec=float64 and
// …/prec=float32, so `benchstat -col /prec` puts them side by side):
// factor (U from H only), prune (the pruning without the evaluation), eval
// (finish: proxy loss and output error from H; float64 only, it does not
// depend on the precision), hprune (building H from the activations, then
// the pruning) and hall (building H, then Prune with its evaluation). As
// `armor layer --precision float32` does, the float32 runs build H with
// float32 Gram products (StatsFromActivationsGram).
func BenchmarkSparseGPTParts(b *testing.B) {
	for _, d := range []int{1024, 2048} {
		l := benchLayer(b, d, d, 2048, true)
		X := mat.NewDense(2048, d, nil)
		rng := rand.New(rand.NewPCG(3, 4))
		for k := range X.RawMatrix().Data {
			X.RawMatrix().Data[k] = rng.NormFloat64()
		}
		for _, prec := range []Precision{Float64, Float32} {
			cfg := DefaultSparseGPTConfig()
			cfg.Precision = prec
			m := &SparseGPT{Pattern: Pattern24, Config: cfg}
			for _, v := range []struct {
				name string
				eval bool
			}{{"hprune", false}, {"hall", true}} {
				b.Run(fmt.Sprintf("d%d/%s/prec=%s", d, v.name, prec), func(b *testing.B) {
					defer reportCPU(b, cpuTime())
					for i := 0; i < b.N; i++ {
						st, err := StatsFromActivationsGram(X, true, prec)
						if err != nil {
							b.Fatal(err)
						}
						lh := &Layer{W: l.W, Stats: st}
						if v.eval {
							_, err = m.Prune(lh)
						} else {
							_, _, err = m.prune(lh)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run(fmt.Sprintf("d%d/factor/prec=%s", d, prec), func(b *testing.B) {
				defer reportCPU(b, cpuTime())
				for i := 0; i < b.N; i++ {
					var err error
					if prec == Float32 {
						_, err = sparseGPTFactor[float32](l.Stats.H, m.Config)
					} else {
						_, err = sparseGPTFactor[float64](l.Stats.H, m.Config)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("d%d/prune/prec=%s", d, prec), func(b *testing.B) {
				defer reportCPU(b, cpuTime())
				for i := 0; i < b.N; i++ {
					if _, _, err := m.prune(l); err != nil {
						b.Fatal(err)
					}
				}
			})
			if prec != Float64 {
				continue
			}
			b.Run(fmt.Sprintf("d%d/eval", d), func(b *testing.B) {
				What, mask, err := m.prune(l)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				defer reportCPU(b, cpuTime())
				for i := 0; i < b.N; i++ {
					res := &Result{Method: m.Name(), Pattern: m.Pattern, Mask: mask, What: What}
					if _, err := finish(l, Normalize(l.W), res); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
