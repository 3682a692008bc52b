//go:build !amd64 || purego

package kernel

// haveAVX2 is false: this build has no assembly (not amd64, or purego).
const haveAVX2 = false

// GroupL1 writes the L1 norms of the first ng groups of four entries of
// each of rows rows of x (row stride ldx) into w (row stride ldw), in
// float64 and in the order ((|x0| + |x1|) + |x2|) + |x3|: groupL1Go.
func GroupL1[T Float](w []float64, ldw int, x []T, ldx, rows, ng int) {
	groupL1Go(w, ldw, x, ldx, rows, ng)
}

// AccumRows adds float64(x[u·ld + w])·coef[u] to out[w] for u = 0 …
// len(coef)−1 in turn and every w < len(out): accumRowsGo.
func AccumRows[T Float](out []float64, x []T, ld int, coef []float64) {
	accumRowsGo(out, x, ld, coef)
}

// Axpy3 adds au·d to g, tu·d to tg and tu·bdh to gs, each product rounded
// to T: axpy3Go.
func Axpy3[T Float](g, tg, gs, d, bdh []T, au, tu T) {
	axpy3Go(g, tg, gs, d, bdh, au, tu)
}

// Rank4 does, for every v < len(grow), d = d0·l[v] + d1·l[ld+v] +
// d2·l[2ld+v] + d3·l[3ld+v], grow[v] += kr·d and w[v] += d: rank4Go.
func Rank4(grow, w, l []float64, ld int, d0, d1, d2, d3, kr float64) {
	rank4Go(grow, w, l, ld, d0, d1, d2, d3, kr)
}

// KeepCopy sets s[k] = v[k] where keep[k], else +0: keepCopyGo.
func KeepCopy[T Float](s, v []T, keep []bool) {
	keepCopyGo(s, v, keep)
}
