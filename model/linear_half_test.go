package model

import (
	"encoding/binary"
	"math"
	"testing"
)

// TestHalfLinearMatchesWidened checks that a BF16/F16 layer (wider than
// one widening panel, so several panels are used) computes what a float32
// layer holding the widened weights computes (to float32 rounding: the
// products are blocked differently), that the bias is added to every row,
// and that Clone shares the half weights.
func TestHalfLinearMatchesWidened(t *testing.T) {
	for _, kind := range []HalfKind{HalfBF16, HalfF16} {
		out, in, rows := 700, 4096, 3 // 700·4096·4 bytes > halfPanelBytes
		half := make([]byte, 2*out*in)
		for i := 0; i < out*in; i++ {
			v := float32(math.Sin(float64(i)*0.37)) * 0.5
			var u uint16
			if kind == HalfBF16 {
				u = uint16(math.Float32bits(v) >> 16)
			} else {
				u = 0x3800 | uint16(i%1024) // values in [0.5, 1)
				if i%3 == 0 {
					u |= 0x8000
				}
			}
			binary.LittleEndian.PutUint16(half[2*i:], u)
		}
		h := NewHalfLinear(out, in, kind, half)
		h.Bias = make([]float32, out)
		for o := range h.Bias {
			h.Bias[o] = float32(o) / 10
		}
		f := &Linear{Out: out, In: in, W: h.Float32s()}
		x := make([]float32, rows*in)
		for i := range x {
			x[i] = float32(math.Cos(float64(i) * 0.11))
		}
		yh, err := h.Apply(x, rows)
		if err != nil {
			t.Fatal(err)
		}
		yf, err := f.Apply(x, rows)
		if err != nil {
			t.Fatal(err)
		}
		for i := range yf {
			want := yf[i] + h.Bias[i%out]
			if d := math.Abs(float64(yh[i] - want)); d > 1e-5*math.Max(1, math.Abs(float64(want))) {
				t.Fatalf("%v: output %d: half %v, widened float32 + bias %v", kind, i, yh[i], want)
			}
		}
		if c := h.Clone(); &c.Half[0] != &h.Half[0] || &c.Bias[0] == &h.Bias[0] {
			t.Errorf("%v: Clone should share Half and copy Bias", kind)
		}
		bad := NewHalfLinear(out, in, kind, half[:len(half)-2])
		if err := bad.Validate(); err == nil {
			t.Errorf("%v: a short half tensor validates", kind)
		}
	}
}
