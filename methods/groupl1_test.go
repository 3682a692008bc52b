package methods

import (
	"math"
	"math/rand/v2"
	"testing"
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
