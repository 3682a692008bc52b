package methods

import (
	"math"
	"testing"
)

// TestTakeStatsEqualsStats checks TakeStats returns bitwise the statistics
// Stats returns (H included) for the same activations, in both Gram
// precisions.
func TestTakeStatsEqualsStats(t *testing.T) {
	for _, prec := range []Precision{Float64, Float32} {
		const rows, d = 37, 70
		x := make([]float32, rows*d)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)*1.3) * 3)
		}
		a, b := NewAccumulator(d, true), NewAccumulator(d, true)
		for _, acc := range []*Accumulator{a, b} {
			if err := acc.SetGramPrecision(prec); err != nil {
				t.Fatal(err)
			}
			if err := acc.AddFloat32(x, rows); err != nil {
				t.Fatal(err)
			}
		}
		want, err := a.Stats()
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.TakeStats()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < d; i++ {
			if got.Hdiag[i] != want.Hdiag[i] || got.WandaNorm[i] != want.WandaNorm[i] {
				t.Fatalf("%s: diagonal %d differs", prec, i)
			}
			for j := i; j < d; j++ {
				if got.H.At(i, j) != want.H.At(i, j) {
					t.Fatalf("%s: H[%d][%d] = %v, Stats gives %v", prec, i, j, got.H.At(i, j), want.H.At(i, j))
				}
			}
		}
	}
}
