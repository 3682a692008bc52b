package infer

import (
	"fmt"
	"testing"
)

// Layer benchmarks at the target shapes: go test -run X -bench Layer
// ./infer/ (ratios: compare the formats' ns/op of one run). SetBytes is
// the bytes each call must move, so MB/s is the achieved bandwidth.
func BenchmarkLayer(b *testing.B) {
	if testing.Short() {
		b.Skip("large layers")
	}
	for _, sh := range [][2]int{{4096, 11008}, {11008, 4096}} {
		for _, st := range []Storage{F32, BF16} {
			d, sp, fa, err := Synthetic(sh[0], sh[1], 128, st, 1)
			if err != nil {
				b.Fatal(err)
			}
			for _, batch := range []int{1, 128} {
				for _, op := range []Operator{d, sp, fa} {
					out, in := op.Dims()
					x, y := make([]float32, batch*in), make([]float32, batch*out)
					for i := range x {
						x[i] = float32(i%5) - 2
					}
					b.Run(fmt.Sprintf("%dx%d/%s/batch%d/%s", sh[0], sh[1], st, batch, op.Format()), func(b *testing.B) {
						b.SetBytes(DecodeBytes(op, batch))
						for b.Loop() {
							op.Apply(x, batch, y)
						}
						b.ReportMetric(Flops(op, batch)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					})
				}
			}
		}
	}
}

// BenchmarkBandwidth is the streaming sum over 1 GiB on Threads()
// goroutines that the decode figures are compared with.
func BenchmarkBandwidth(b *testing.B) {
	if testing.Short() {
		b.Skip("1 GiB buffer")
	}
	for b.Loop() {
		bw := Bandwidth(1<<30, 1)
		b.ReportMetric(bw/1e9, "GB/s")
	}
}
