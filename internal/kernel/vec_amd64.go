//go:build amd64 && !purego

package kernel

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// haveAVX2 reports whether the processor runs the AVX2 kernels of
// vec_amd64.s and adam_amd64.s.
var haveAVX2 = cpu.X86.HasAVX2

//go:noescape
func groupL1F32(w *float64, ldw int, x *float32, ldx, rows, ng int)

//go:noescape
func groupL1F64(w *float64, ldw int, x *float64, ldx, rows, ng int)

//go:noescape
func accumRowsF32(out *float64, x *float32, ld, n int, coef *float64, rows int)

//go:noescape
func accumRowsF64(out *float64, x *float64, ld, n int, coef *float64, rows int)

//go:noescape
func keepCopyF32(s, v *float32, keep *bool, n int)

//go:noescape
func keepCopyF64(s, v *float64, keep *bool, n int)

//go:noescape
func rank4Update(grow, w, l0 *float64, ld int, d0, d1, d2, d3, kr float64, n int)

//go:noescape
func axpy3F32(gr, tg, gs, d, bdh *float32, au, tu float32, n int)

//go:noescape
func axpy3F64(gr, tg, gs, d, bdh *float64, au, tu float64, n int)

// groupL1Asm does groupL1Go's work, bitwise, on the first ng/4·4 groups of
// each row on a processor with AVX2; it returns how many groups per row it
// did (a multiple of 4, possibly 0), leaving the rest to the caller.
func groupL1Asm[T Float](w []float64, ldw int, x []T, ldx, rows, ng int) int {
	n4 := ng / 4 * 4
	if !haveAVX2 || rows == 0 || n4 == 0 {
		return 0
	}
	if (rows-1)*ldw+n4 > len(w) || (rows-1)*ldx+4*n4 > len(x) {
		panic(fmt.Sprintf("groupL1Asm: %d rows of %d groups exceed slices of %d and %d", rows, n4, len(w), len(x)))
	}
	switch xt := any(x).(type) {
	case []float32:
		groupL1F32(&w[0], ldw, &xt[0], ldx, rows, n4)
	case []float64:
		groupL1F64(&w[0], ldw, &xt[0], ldx, rows, n4)
	}
	return n4
}

// accumRowsAsm adds float64(x[u·ld + w])·coef[u] to out[w] for u = 0 …
// len(coef)−1 in turn and w below the largest multiple of 4 within
// len(out), bitwise as accumRowsGo does, on a processor with AVX2; it
// returns how many entries of out it did (0 when it cannot), leaving the
// rest to the caller.
func accumRowsAsm[T Float](out []float64, x []T, ld int, coef []float64) int {
	n4, rows := len(out)/4*4, len(coef)
	if !haveAVX2 || rows == 0 || n4 == 0 {
		return 0
	}
	if (rows-1)*ld+n4 > len(x) {
		panic(fmt.Sprintf("accumRowsAsm: %d rows of %d with stride %d exceed a slice of %d", rows, n4, ld, len(x)))
	}
	switch xt := any(x).(type) {
	case []float32:
		accumRowsF32(&out[0], &xt[0], ld, n4, &coef[0], rows)
	case []float64:
		accumRowsF64(&out[0], &xt[0], ld, n4, &coef[0], rows)
	}
	return n4
}

// axpy3Asm adds au·d to g, tu·d to tg and tu·bdh to gs over the longest
// prefix of d that is a whole number of 32-byte vectors, bitwise as axpy3Go
// does, on a processor with AVX2; it returns the prefix's length (0
// when it cannot), leaving the rest to the caller.
func axpy3Asm[T Float](g, tg, gs, d, bdh []T, au, tu T) int {
	lanes := 8
	if _, f64 := any(au).(float64); f64 {
		lanes = 4
	}
	n := len(d) / lanes * lanes
	if !haveAVX2 || n == 0 {
		return 0
	}
	g, tg, gs, bdh = g[:n], tg[:n], gs[:n], bdh[:n] // bounds for the assembly
	switch dt := any(d).(type) {
	case []float32:
		axpy3F32(&any(g).([]float32)[0], &any(tg).([]float32)[0], &any(gs).([]float32)[0], &dt[0], &any(bdh).([]float32)[0], any(au).(float32), any(tu).(float32), n)
	case []float64:
		axpy3F64(&any(g).([]float64)[0], &any(tg).([]float64)[0], &any(gs).([]float64)[0], &dt[0], &any(bdh).([]float64)[0], any(au).(float64), any(tu).(float64), n)
	}
	return n
}

// rank4Asm does, for the longest prefix of grow that is a multiple of 4
// entries, d = d0·l[0][v] + d1·l[1][v] + d2·l[2][v] + d3·l[3][v] (rows of l
// ld apart from l[0]), grow[v] += kr·d and w[v] += d, bitwise as the Go loop
// of sweepTile does, on a processor with AVX2; it returns the prefix's
// length (0 when it cannot).
func rank4Asm(grow, w, l []float64, ld int, d0, d1, d2, d3, kr float64) int {
	n := len(grow) / 4 * 4
	if !haveAVX2 || n == 0 {
		return 0
	}
	if len(w) < n || 3*ld+n > len(l) {
		panic(fmt.Sprintf("rank4Asm: %d entries, w of %d, rows %d apart in %d", n, len(w), ld, len(l)))
	}
	rank4Update(&grow[0], &w[0], &l[0], ld, d0, d1, d2, d3, kr, n)
	return n
}

// keepCopyAsm sets s[k] = v[k] where keep[k], else 0, without branches,
// for the longest prefix of s that is a whole number of 32-byte vectors,
// bitwise as keepCopyGo, on a processor with AVX2; it returns
// the prefix's length (0 when it cannot).
func keepCopyAsm[T Float](s, v []T, keep []bool) int {
	lanes := 8
	if _, f64 := any(T(0)).(float64); f64 {
		lanes = 4
	}
	n := len(s) / lanes * lanes
	if !haveAVX2 || n == 0 {
		return 0
	}
	v, keep = v[:n], keep[:n] // bounds for the assembly
	switch st := any(s).(type) {
	case []float32:
		keepCopyF32(&st[0], &any(v).([]float32)[0], &keep[0], n)
	case []float64:
		keepCopyF64(&st[0], &any(v).([]float64)[0], &keep[0], n)
	}
	return n
}

// GroupL1 writes the L1 norms of the first ng groups of four entries of
// each of rows rows of x (row stride ldx) into w (row stride ldw), in
// float64 and in the order ((|x0| + |x1|) + |x2|) + |x3|: groupL1Go, with
// AVX2 for four groups at a time where the processor has it.
func GroupL1[T Float](w []float64, ldw int, x []T, ldx, rows, ng int) {
	done := groupL1Asm(w, ldw, x, ldx, rows, ng)
	if done == ng || rows == 0 {
		return
	}
	groupL1Go(w[done:], ldw, x[4*done:], ldx, rows, ng-done)
}

// AccumRows adds float64(x[u·ld + w])·coef[u] to out[w] for u = 0 …
// len(coef)−1 in turn and every w < len(out): accumRowsGo, with AVX2 for
// four entries of out at a time where the processor has it.
func AccumRows[T Float](out []float64, x []T, ld int, coef []float64) {
	done := accumRowsAsm(out, x, ld, coef)
	if done == len(out) || len(coef) == 0 {
		return
	}
	accumRowsGo(out[done:], x[done:], ld, coef)
}

// Axpy3 adds au·d to g, tu·d to tg and tu·bdh to gs, each product rounded
// to T: axpy3Go, with AVX2 for whole 32-byte vectors where the processor
// has it.
func Axpy3[T Float](g, tg, gs, d, bdh []T, au, tu T) {
	done := axpy3Asm(g, tg, gs, d, bdh, au, tu)
	axpy3Go(g[done:], tg[done:], gs[done:], d[done:], bdh[done:], au, tu)
}

// Rank4 does, for every v < len(grow), d = d0·l[v] + d1·l[ld+v] +
// d2·l[2ld+v] + d3·l[3ld+v], grow[v] += kr·d and w[v] += d: rank4Go, with
// AVX2 for four entries at a time where the processor has it.
func Rank4(grow, w, l []float64, ld int, d0, d1, d2, d3, kr float64) {
	done := rank4Asm(grow, w, l, ld, d0, d1, d2, d3, kr)
	if done == len(grow) {
		return
	}
	rank4Go(grow[done:], w[done:], l[done:], ld, d0, d1, d2, d3, kr)
}

// KeepCopy sets s[k] = v[k] where keep[k], else +0: keepCopyGo, with AVX2
// and no branch for whole 32-byte vectors where the processor has it.
func KeepCopy[T Float](s, v []T, keep []bool) {
	done := keepCopyAsm(s, v, keep)
	keepCopyGo(s[done:], v[done:], keep[done:])
}
