package model

import "testing"

// doubler is a 2×3 operator y = 2·(x0+x1+x2) in every output.
type doubler struct{}

func (doubler) Dims() (int, int) { return 2, 3 }
func (doubler) Apply(x []float32, rows int, y []float32) {
	for r := range rows {
		s := 2 * (x[3*r] + x[3*r+1] + x[3*r+2])
		y[2*r], y[2*r+1] = s, s
	}
}

func TestOperatorLinear(t *testing.T) {
	l := &Linear{Out: 2, In: 3, Op: doubler{}, Bias: []float32{1, -1}}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	y, err := l.Apply([]float32{1, 2, 3, 0, 0, 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{13, 11, 3, 1}
	for i := range want {
		if y[i] != want[i] {
			t.Fatalf("y = %v, want %v (operator then bias)", y, want)
		}
	}
	if err := (&Linear{Out: 3, In: 3, Op: doubler{}}).Validate(); err == nil {
		t.Error("3×3 layer with a 2×3 operator: no error")
	}
	if err := (&Linear{Out: 2, In: 3}).Validate(); err == nil {
		t.Error("layer with neither weights nor operator: no error")
	}
}
