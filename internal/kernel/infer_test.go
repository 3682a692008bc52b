package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refDot is the documented order written out independently of the kernels'
// helpers: 32 lanes of fused multiply-adds, the fixed fold, then the tail.
func refDot(w, x []float32) float32 {
	n := len(w)
	n32 := n / 32 * 32
	var lane [4][8]float32
	for i := 0; i < n32; i++ {
		a, l := (i%32)/8, i%8
		lane[a][l] = fma32(w[i], x[i], lane[a][l])
	}
	var t [8]float32
	for l := range 8 {
		t[l] = float32(lane[0][l]+lane[1][l]) + float32(lane[2][l]+lane[3][l])
	}
	var u [4]float32
	for l := range 4 {
		u[l] = t[l] + t[l+4]
	}
	s := float32(u[0]+u[2]) + float32(u[1]+u[3])
	for i := n32; i < n; i++ {
		s = fma32(w[i], x[i], s)
	}
	return s
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// rand24 returns a dense 2:4 row of n inputs (some groups with fewer than
// two nonzeros) and its compressed values and metadata, encoded here
// independently of the kernels: positions in increasing order, 2 bits each,
// four per group pair, LSB first.
func rand24(r *rand.Rand, n int) (dense, vals []float32, meta []byte) {
	dense = make([]float32, n)
	meta = make([]byte, Meta24Len(n))
	for g := 0; g < n/4; g++ {
		p0 := r.IntN(3)
		p1 := p0 + 1 + r.IntN(3-p0)
		v0, v1 := float32(r.NormFloat64()), float32(r.NormFloat64())
		if r.IntN(5) == 0 {
			v1 = 0 // a group with one nonzero keeps an explicit zero
		}
		dense[4*g+p0], dense[4*g+p1] = v0, v1
		vals = append(vals, v0, v1)
		meta[g/2] |= byte(p0|p1<<2) << (4 * (g % 2))
	}
	return dense, vals, meta
}

// sizes covers no chunk, one chunk, chunks plus every kind of tail.
var sizes = []int{4, 8, 12, 28, 32, 36, 40, 60, 64, 96, 100, 172, 256, 260, 1028}

func TestDotRowsBitwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range sizes {
		for _, rows := range []int{1, 3, 7} {
			ldw, ldx := n+r.IntN(5)*4, n+4
			w := randVec(r, rows*ldw)
			x := randVec(r, rows*ldx)
			wb := make([]uint16, len(w))
			for i, v := range w {
				wb[i] = BF16(v)
			}
			for _, shared := range []bool{false, true} {
				lx := ldx
				if shared {
					lx = 0
				}
				y := make([]float32, 2*rows)
				yb := make([]float32, 2*rows)
				DotRowsF32(w, ldw, x, lx, n, y, 2, rows)
				DotRowsBF16(wb, ldw, x, lx, n, yb, 2, rows)
				for i := range rows {
					xr := x[i*lx : i*lx+n]
					if want := refDot(w[i*ldw:i*ldw+n], xr); math.Float32bits(y[2*i]) != math.Float32bits(want) {
						t.Fatalf("f32 n=%d rows=%d shared=%v row %d: %v, want %v", n, rows, shared, i, y[2*i], want)
					}
					wf := make([]float32, n)
					for k := range wf {
						wf[k] = FromBF16(wb[i*ldw+k])
					}
					if want := refDot(wf, xr); math.Float32bits(yb[2*i]) != math.Float32bits(want) {
						t.Fatalf("bf16 n=%d rows=%d row %d: %v, want %v", n, rows, i, yb[2*i], want)
					}
				}
			}
		}
	}
}

func TestDotRows24Bitwise(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range sizes {
		for _, rows := range []int{1, 2, 5} {
			ldv, ldm := n/2+2, Meta24Len(n)+1
			vals := make([]float32, rows*ldv)
			meta := make([]byte, rows*ldm)
			dense := make([][]float32, rows)
			for i := range rows {
				d, v, m := rand24(r, n)
				dense[i] = d
				copy(vals[i*ldv:], v)
				copy(meta[i*ldm:], m)
			}
			vb := make([]uint16, len(vals))
			for i, v := range vals {
				vb[i] = BF16(v)
			}
			x := randVec(r, rows*n)
			for _, lx := range []int{n, 0} {
				y := make([]float32, rows)
				yb := make([]float32, rows)
				yd := make([]float32, rows)
				DotRows24F32(vals, ldv, meta, ldm, x, lx, n, y, 1, rows)
				DotRows24BF16(vb, ldv, meta, ldm, x, lx, n, yb, 1, rows)
				for i := range rows {
					xr := x[i*lx : i*lx+n]
					DotRowsF32(dense[i], 0, xr, 0, n, yd[i:], 1, 1)
					want := refDot(dense[i], xr)
					if math.Float32bits(y[i]) != math.Float32bits(want) || math.Float32bits(yd[i]) != math.Float32bits(want) {
						t.Fatalf("2:4 f32 n=%d rows=%d row %d: compressed %v, dense kernel %v, want %v", n, rows, i, y[i], yd[i], want)
					}
					db := make([]float32, n)
					for k, v := range dense[i] {
						db[k] = FromBF16(BF16(v))
					}
					if want := refDot(db, xr); math.Float32bits(yb[i]) != math.Float32bits(want) {
						t.Fatalf("2:4 bf16 n=%d rows=%d row %d: %v, want %v", n, rows, i, yb[i], want)
					}
				}
			}
		}
	}
}

// TestFMA32DoubleRounding checks fma32 and the assembly on a product that
// is exactly a float32 midpoint plus a tiny addend: rounding the float64
// sum to float32 would give the even neighbour; one rounding gives the
// other.
func TestFMA32DoubleRounding(t *testing.T) {
	a := float32(1 + 1.0/4096)          // a² = 1 + 2⁻¹¹ + 2⁻²⁴, a float32 midpoint
	tiny := float32(math.Ldexp(1, -80)) // far below float64's precision at 1
	up := float32(1 + math.Ldexp(1, -11) + math.Ldexp(1, -23))
	down := float32(1 + math.Ldexp(1, -11))
	for _, c := range []struct {
		add, want float32
	}{{tiny, up}, {-tiny, down}} {
		if naive := float32(float64(a)*float64(a) + float64(c.add)); c.add > 0 && naive == c.want {
			t.Fatalf("test case does not exercise double rounding")
		}
		if got := fma32(a, a, c.add); got != c.want {
			t.Errorf("fma32(a, a, %g) = %v, want %v", c.add, got, c.want)
		}
		// Lane 0 gets c.add in chunk 0, then a·a in chunk 1.
		w, x := make([]float32, 64), make([]float32, 64)
		w[0], x[0], w[32], x[32] = c.add, 1, a, a
		var y [1]float32
		DotRowsF32(w, 0, x, 0, 64, y[:], 1, 1)
		if y[0] != c.want {
			t.Errorf("DotRowsF32 with addend %g = %v, want %v", c.add, y[0], c.want)
		}
	}
}

func TestBF16Rounding(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, {0x3f808000, 0x3f80}, {0x3f818000, 0x3f82}, {0x3f808001, 0x3f81}, {0x3f807fff, 0x3f80},
	} {
		if got := BF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("BF16(%#x) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

func TestSumF32(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range sizes {
		p := randVec(r, n)
		ones := make([]float32, n)
		for i := range ones {
			ones[i] = 1
		}
		if got, want := SumF32(p), refDot(ones, p); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("n=%d: SumF32 = %v, want %v", n, got, want)
		}
	}
}

func BenchmarkStreamSum(b *testing.B) {
	p := make([]float32, 64<<20)
	b.SetBytes(int64(4 * len(p)))
	for b.Loop() {
		SumF32(p)
	}
}
