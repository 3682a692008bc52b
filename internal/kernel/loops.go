package kernel

import "math"

// The Go loops of the vector kernels. Each exported kernel is exactly its
// loop: the no-assembly build (purego or not amd64) calls the loop, the
// amd64 build runs the assembly on the longest prefix it handles and the
// loop on the rest, with bitwise the same results. Every product that is
// added is converted explicitly (float64(…), T(…)), which rounds it: no
// compiler may fuse it into a multiply-add (Go spec, "Floating-point
// operators"), so the loops give the same bits at any GOAMD64 level and
// agree with the assembly, which multiplies and adds separately.

// groupL1Go is GroupL1's loop.
func groupL1Go[T Float](w []float64, ldw int, x []T, ldx, rows, ng int) {
	for r := 0; r < rows; r++ {
		wr := w[r*ldw : r*ldw+ng]
		xr := x[r*ldx : r*ldx+4*ng]
		for q := range wr {
			e := xr[4*q : 4*q+4 : 4*q+4]
			wr[q] = math.Abs(float64(e[0])) + math.Abs(float64(e[1])) + math.Abs(float64(e[2])) + math.Abs(float64(e[3]))
		}
	}
}

// accumRowsGo is AccumRows's loop.
func accumRowsGo[T Float](out []float64, x []T, ld int, coef []float64) {
	for u, cu := range coef {
		for w, xv := range x[u*ld : u*ld+len(out)] {
			out[w] += float64(float64(xv) * cu)
		}
	}
}

// axpy3Go is Axpy3's loop.
func axpy3Go[T Float](g, tg, gs, d, bdh []T, au, tu T) {
	g, tg, gs, bdh = g[:len(d)], tg[:len(d)], gs[:len(d)], bdh[:len(d)]
	for v, dv := range d {
		g[v] += T(au * dv)
		tg[v] += T(tu * dv)
		gs[v] += T(tu * bdh[v])
	}
}

// rank4Go is Rank4's loop.
func rank4Go(grow, w, l []float64, ld int, d0, d1, d2, d3, kr float64) {
	n := len(grow)
	l0, l1, l2, l3, w := l[:n], l[ld:ld+n], l[2*ld:2*ld+n], l[3*ld:3*ld+n], w[:n]
	for v := range grow {
		d := float64(d0*l0[v]) + float64(d1*l1[v]) + float64(d2*l2[v]) + float64(d3*l3[v])
		grow[v] += float64(kr * d)
		w[v] += d
	}
}

// keepCopyGo is KeepCopy's loop.
func keepCopyGo[T Float](s, v []T, keep []bool) {
	v, keep = v[:len(s)], keep[:len(s)]
	for k := range s {
		if keep[k] {
			s[k] = v[k]
		} else {
			s[k] = 0
		}
	}
}

// AdamConsts are the scalars of one Adam update in the storage type: the
// step size LR1 = lr/(1−β1^t), RB2 = 1/(1−β2^t), Eps, B1 = β1, B2 = β2,
// C1 = 1−β1 and C2 = 1−β2 (this field order is the assembly kernel's too).
type AdamConsts[T Float] struct{ LR1, RB2, Eps, B1, B2, C1, C2 T }

// adamGo is Adam's loop. The conversions T(…) round every product, so no
// compiler fuses a multiply-add and the assembly kernel, which performs the
// same operations lane by lane, agrees bitwise.
func adamGo[T Float](x, g, m, v []T, c *AdamConsts[T]) {
	g, m, v = g[:len(x)], m[:len(x)], v[:len(x)]
	for k := range x {
		gk := g[k]
		mk := T(c.B1*m[k]) + T(c.C1*gk)
		vk := T(c.B2*v[k]) + T(T(c.C2*gk)*gk)
		m[k], v[k] = mk, vk
		x[k] -= T(c.LR1*mk) / (T(math.Sqrt(float64(T(vk*c.RB2)))) + c.Eps)
	}
}

// adamKeepGo is AdamKeep's loop, without branches: a 2:4 mask is as
// unpredictable as a coin, and mispredicted branches cost more than the
// arithmetic. With kf = 0 (pruned) the gradient is zero, so the moments
// decay exactly (β1·m + (1−β1)·0 is β1·m); the value would move too, as in
// PyTorch, but a pruned value is never read — a group's update writes every
// value it keeps — so its step is multiplied by 0 (the step is finite: eps >
// 0) and s gets +0. With kf = 1 every product by kf is exact, so kept
// entries get exactly the usual update.
func adamKeepGo[T Float](x, g, m, v []T, keep []bool, s []T, c *AdamConsts[T]) {
	g, m, v, keep, s = g[:len(x)], m[:len(x)], v[:len(x)], keep[:len(x)], s[:len(x)]
	for k := range x {
		kf := T(b2i(keep[k]))
		gk := g[k] * kf
		mk := T(c.B1*m[k]) + T(c.C1*gk)
		vk := T(c.B2*v[k]) + T(T(c.C2*gk)*gk)
		m[k], v[k] = mk, vk
		xk := x[k] - T(kf*(T(c.LR1*mk)/(T(math.Sqrt(float64(T(vk*c.RB2))))+c.Eps)))
		x[k] = xk
		s[k] = T(xk*kf) + 0 // + 0 turns a pruned −0 into +0
	}
}

// b2i is 1 for true and 0 for false (a SETcc, not a branch).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
