package kernel

import (
	"math/rand/v2"
	"testing"
)

// In-cache throughput of one row set (64 rows × 2048 inputs, in L2), one
// goroutine: the kernels' compute rate without memory traffic.
func BenchmarkDotRowsInCache(b *testing.B) {
	const rows, n = 64, 2048
	r := rand.New(rand.NewPCG(1, 1))
	w, x, y := randVec(r, rows*n), randVec(r, n), make([]float32, rows)
	vals := randVec(r, rows*n/2)
	meta := make([]byte, rows*Meta24Len(n))
	for i := range meta {
		meta[i] = 0b_1101_0100 // positions (0,1), (1,3)
	}
	b.Run("dense", func(b *testing.B) {
		b.SetBytes(4 * rows * n)
		for b.Loop() {
			DotRowsF32(w, n, x, 0, n, y, 1, rows)
		}
	})
	b.Run("2:4", func(b *testing.B) {
		b.SetBytes(4 * rows * n) // dense-equivalent bytes
		for b.Loop() {
			DotRows24F32(vals, n/2, meta, Meta24Len(n), x, 0, n, y, 1, rows)
		}
	})
}

// Out-of-cache, one goroutine, 4096 × 11008.
func BenchmarkDotRowsBig(b *testing.B) {
	const rows, n = 4096, 11008
	r := rand.New(rand.NewPCG(1, 1))
	w, x, y := randVec(r, rows*n), randVec(r, n), make([]float32, rows)
	vals := randVec(r, rows*n/2)
	meta := make([]byte, rows*Meta24Len(n))
	for i := range meta {
		meta[i] = 0b_1101_0100
	}
	b.Run("dense", func(b *testing.B) {
		b.SetBytes(4 * rows * n)
		for b.Loop() {
			DotRowsF32(w, n, x, 0, n, y, 1, rows)
		}
	})
	b.Run("2:4", func(b *testing.B) {
		b.SetBytes(int64(len(vals)*4 + len(meta)))
		for b.Loop() {
			DotRows24F32(vals, n/2, meta, Meta24Len(n), x, 0, n, y, 1, rows)
		}
	})
}
