package kernel

// The inference kernels compute dot products of weight rows with float32
// inputs in one fixed order, so the assembly and the Go loop agree bitwise
// and so a row's result does not depend on how rows are split between
// goroutines. For a row of n inputs, n32 = n/32·32:
//
//  1. 32 lanes acc[a][l] (a = 0…3, l = 0…7) start at +0; input i < n32
//     goes to lane (a, l) with i = 32c + 8a + l, acc = fma(w_i, x_i, acc),
//     chunks c in order (fma rounds once);
//  2. t[l] = (acc[0][l]+acc[1][l]) + (acc[2][l]+acc[3][l]),
//     u[l] = t[l]+t[l+4], v[l] = u[l]+u[l+2], s = v[0]+v[1];
//  3. s = fma(w_i, x_i, s) for i = n32 … n−1 in order.
//
// w_i is the stored weight widened to float32: a float32, a bfloat16
// (the upper half of a float32) or, for 2:4-compressed rows, the dense row
// with zeros where pruned. A zero weight leaves a lane unchanged (lanes are
// never −0), so a compressed row gives exactly what its dense masked row
// gives.

import (
	"fmt"
	"math"
)

// fma32 returns a·b + c rounded once to float32, as VFMADD231PS does. The
// product is exact in float64; the float64 sum's rounding error is
// recovered (TwoSum) and breaks the one case where rounding the float64
// sum to float32 would round twice: a sum exactly halfway between two
// float32 values.
func fma32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b)) // exact: 24+24 bits
	cc := float64(c)
	s := p + cc
	r := float32(s)
	if math.IsInf(s, 0) || math.IsNaN(s) || float64(r) == s {
		return r
	}
	bb := s - p
	e := (p - (s - bb)) + (cc - bb)
	if e == 0 {
		return r
	}
	other := math.Nextafter32(r, float32(math.Inf(1)))
	if float64(r) > s {
		other = math.Nextafter32(r, float32(math.Inf(-1)))
	}
	if (float64(r)+float64(other))/2 != s {
		return r // not a tie: the exact value lies on s's side
	}
	// A tie in float64 that the exact sum s+e breaks.
	if (e > 0) == (other > r) {
		return other
	}
	return r
}

// reduce32 folds the 32 lanes as step 2 above.
func reduce32(acc *[32]float32) float32 {
	var t [8]float32
	for l := range 8 {
		t[l] = (acc[l] + acc[8+l]) + (acc[16+l] + acc[24+l])
	}
	u0, u1, u2, u3 := t[0]+t[4], t[1]+t[5], t[2]+t[6], t[3]+t[7]
	return (u0 + u2) + (u1 + u3)
}

// chunk32 accumulates one chunk of 32 weights and inputs into the lanes.
func chunk32(acc, w *[32]float32, x []float32) {
	x = x[:32]
	for i := range 32 {
		acc[i] = fma32(w[i], x[i], acc[i])
	}
}

// BF16 returns v rounded to the nearest bfloat16 (ties to even), NaN kept
// a NaN.
func BF16(v float32) uint16 {
	b := math.Float32bits(v)
	if v != v {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// FromBF16 widens a bfloat16 to float32 exactly.
func FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// lut24 maps a 2:4 metadata byte to VPERMPS lane indices: byte m describes
// two groups of 4 inputs, group h by bits 4h…4h+3 holding the positions of
// its two kept values (2 bits each, first kept value in the low bits);
// entry k is the index among the byte's 4 kept values that lands on input
// k, or 4 (a zero lane) where input k is pruned.
var lut24 = func() (t [256][8]int32) {
	for m := range 256 {
		for k := range 8 {
			t[m][k] = 4
		}
		for h := range 2 {
			p0, p1 := (m>>(4*h))&3, (m>>(4*h+2))&3
			t[m][4*h+p0] = int32(2 * h)
			t[m][4*h+p1] = int32(2*h + 1)
		}
	}
	return t
}()

// lut24b is lut24 with byte entries, the assembly's table (2 KiB).
var lut24b = func() (t [256][8]uint8) {
	for m, row := range lut24 {
		for k, v := range row {
			t[m][k] = uint8(v)
		}
	}
	return t
}()

// expand24 writes the dense weights of inputs 8j … 8j+7 of a 2:4 row whose
// kept values are v (4 of them from index 4j) and metadata byte m, through
// the same table as the assembly.
func expand24(dst []float32, m byte, v0, v1, v2, v3 float32) {
	kept := [5]float32{v0, v1, v2, v3, 0}
	for k, idx := range lut24[m] {
		dst[k] = kept[idx]
	}
}

// checkRows panics (a caller bug, not bad input: callers validate their
// tensors) when rows rows of stride ld and length n exceed a slice of len l.
func checkRows(name, what string, l, ld, n, rows int) {
	if rows > 0 && (ld < 0 || (rows-1)*ld+n > l) {
		panic(fmt.Sprintf("kernel: %s %s: %d rows of %d with stride %d exceed a slice of %d", name, what, rows, n, ld, l))
	}
}

// DotRowsF32 sets y[r·ldy] = w[r·ldw : r·ldw+n] · x[r·ldx : r·ldx+n] for
// r = 0 … rows−1 in the order described at the top of this file. A stride
// may be 0 (the same weights or inputs for every row).
func DotRowsF32(w []float32, ldw int, x []float32, ldx, n int, y []float32, ldy, rows int) {
	checkRows("DotRowsF32", "weights", len(w), ldw, n, rows)
	checkRows("DotRowsF32", "inputs", len(x), ldx, n, rows)
	checkRows("DotRowsF32", "outputs", len(y), ldy, 1, rows)
	n32 := n / 32 * 32
	if !dotRowsF32Fast(w, ldw, x, ldx, n32, y, ldy, rows) {
		dotRowsF32Go(w, ldw, x, ldx, n32, y, ldy, rows)
	}
	if n32 == n {
		return
	}
	for r := range rows {
		s := y[r*ldy]
		wr, xr := w[r*ldw:r*ldw+n], x[r*ldx:r*ldx+n]
		for i := n32; i < n; i++ {
			s = fma32(wr[i], xr[i], s)
		}
		y[r*ldy] = s
	}
}

// dotRowsF32Go is steps 1 and 2 for the first n32 inputs of each row.
func dotRowsF32Go(w []float32, ldw int, x []float32, ldx, n32 int, y []float32, ldy, rows int) {
	for r := range rows {
		var acc [32]float32
		for c := 0; c < n32; c += 32 {
			chunk32(&acc, (*[32]float32)(w[r*ldw+c:]), x[r*ldx+c:])
		}
		y[r*ldy] = reduce32(&acc)
	}
}

// DotRowsBF16 is DotRowsF32 with bfloat16 weights.
func DotRowsBF16(w []uint16, ldw int, x []float32, ldx, n int, y []float32, ldy, rows int) {
	checkRows("DotRowsBF16", "weights", len(w), ldw, n, rows)
	checkRows("DotRowsBF16", "inputs", len(x), ldx, n, rows)
	checkRows("DotRowsBF16", "outputs", len(y), ldy, 1, rows)
	n32 := n / 32 * 32
	if !dotRowsBF16Fast(w, ldw, x, ldx, n32, y, ldy, rows) {
		dotRowsBF16Go(w, ldw, x, ldx, n32, y, ldy, rows)
	}
	if n32 == n {
		return
	}
	for r := range rows {
		s := y[r*ldy]
		wr, xr := w[r*ldw:r*ldw+n], x[r*ldx:r*ldx+n]
		for i := n32; i < n; i++ {
			s = fma32(FromBF16(wr[i]), xr[i], s)
		}
		y[r*ldy] = s
	}
}

func dotRowsBF16Go(w []uint16, ldw int, x []float32, ldx, n32 int, y []float32, ldy, rows int) {
	for r := range rows {
		var acc, wc [32]float32
		for c := 0; c < n32; c += 32 {
			for i, h := range w[r*ldw+c : r*ldw+c+32] {
				wc[i] = FromBF16(h)
			}
			chunk32(&acc, &wc, x[r*ldx+c:])
		}
		y[r*ldy] = reduce32(&acc)
	}
}

// Meta24Len is the number of metadata bytes of a 2:4 row of n inputs (n a
// multiple of 4): one per 8 inputs, the last one half used when n%8 = 4.
func Meta24Len(n int) int { return (n + 7) / 8 }

// DotRows24F32 is DotRowsF32 for 2:4-compressed weight rows of n inputs (n
// a multiple of 4): row r keeps n/2 values v[r·ldv …] and Meta24Len(n)
// metadata bytes meta[r·ldm …], byte j describing inputs 8j … 8j+7 as
// lut24 does. The metadata must be valid (two distinct positions per
// group); the result equals DotRowsF32 on the dense masked row.
func DotRows24F32(v []float32, ldv int, meta []byte, ldm int, x []float32, ldx, n int, y []float32, ldy, rows int) {
	check24("DotRows24F32", len(v), ldv, len(meta), ldm, len(x), ldx, n, len(y), ldy, rows)
	n32 := n / 32 * 32
	if !dotRows24F32Fast(v, ldv, meta, ldm, x, ldx, n32, y, ldy, rows) {
		dotRows24Go(func(i int) float32 { return v[i] }, ldv, meta, ldm, x, ldx, n32, y, ldy, rows)
	}
	tail24(func(i int) float32 { return v[i] }, ldv, meta, ldm, x, ldx, n, n32, y, ldy, rows)
}

// DotRows24BF16 is DotRows24F32 with bfloat16 kept values.
func DotRows24BF16(v []uint16, ldv int, meta []byte, ldm int, x []float32, ldx, n int, y []float32, ldy, rows int) {
	check24("DotRows24BF16", len(v), ldv, len(meta), ldm, len(x), ldx, n, len(y), ldy, rows)
	n32 := n / 32 * 32
	if !dotRows24BF16Fast(v, ldv, meta, ldm, x, ldx, n32, y, ldy, rows) {
		dotRows24Go(func(i int) float32 { return FromBF16(v[i]) }, ldv, meta, ldm, x, ldx, n32, y, ldy, rows)
	}
	tail24(func(i int) float32 { return FromBF16(v[i]) }, ldv, meta, ldm, x, ldx, n, n32, y, ldy, rows)
}

func check24(name string, lv, ldv, lm, ldm, lx, ldx, n, ly, ldy, rows int) {
	if n%4 != 0 {
		panic(fmt.Sprintf("kernel: %s: %d inputs is not a multiple of 4", name, n))
	}
	checkRows(name, "values", lv, ldv, n/2, rows)
	checkRows(name, "metadata", lm, ldm, Meta24Len(n), rows)
	checkRows(name, "inputs", lx, ldx, n, rows)
	checkRows(name, "outputs", ly, ldy, 1, rows)
}

// dotRows24Go is steps 1 and 2 for 2:4 rows; val(i) is kept value i of the
// value slice.
func dotRows24Go(val func(int) float32, ldv int, meta []byte, ldm int, x []float32, ldx, n32 int, y []float32, ldy, rows int) {
	for r := range rows {
		var acc, wc [32]float32
		for c := 0; c < n32; c += 32 {
			for a := range 4 {
				j := c/8 + a
				b := r*ldv + 4*j
				expand24(wc[8*a:], meta[r*ldm+j], val(b), val(b+1), val(b+2), val(b+3))
			}
			chunk32(&acc, &wc, x[r*ldx+c:])
		}
		y[r*ldy] = reduce32(&acc)
	}
}

// tail24 is step 3 for 2:4 rows: inputs n32 … n−1, a multiple of 4 long.
func tail24(val func(int) float32, ldv int, meta []byte, ldm int, x []float32, ldx, n, n32 int, y []float32, ldy, rows int) {
	if n32 == n {
		return
	}
	var wc [8]float32
	for r := range rows {
		s := y[r*ldy]
		for g := n32; g < n; g += 8 {
			j := g / 8
			b := r*ldv + 4*j
			v2, v3 := float32(0), float32(0)
			if g+4 < n {
				v2, v3 = val(b+2), val(b+3)
			}
			expand24(wc[:], meta[r*ldm+j], val(b), val(b+1), v2, v3)
			for k := 0; k < 8 && g+k < n; k++ {
				s = fma32(wc[k], x[r*ldx+g+k], s)
			}
		}
		y[r*ldy] = s
	}
}

// SumF32 returns the sum of p in the lane order of the dot products (the
// weights all 1, fma(1, x, s) = x + s). It exists to measure streaming read
// bandwidth beside the kernels.
func SumF32(p []float32) float32 {
	n32 := len(p) / 32 * 32
	s, ok := sumF32Fast(p[:n32])
	if !ok {
		var acc [32]float32
		for c := 0; c < n32; c += 32 {
			for i, v := range p[c : c+32] {
				acc[i] += v
			}
		}
		s = reduce32(&acc)
	}
	for _, v := range p[n32:] {
		s += v
	}
	return s
}
