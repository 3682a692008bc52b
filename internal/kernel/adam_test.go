package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// adamKeepReference is the masked Adam update written the plain way, with a
// branch per entry: kept entries get PyTorch's update, pruned ones only
// decay their moments and get s = 0.
func adamKeepReference[T Float](x, g, m, v []T, keep []bool, s []T, c *AdamConsts[T]) {
	for k := range x {
		if !keep[k] {
			m[k], v[k], s[k] = c.B1*m[k], c.B2*v[k], 0
			continue
		}
		gk := g[k]
		mk := T(c.B1*m[k]) + T(c.C1*gk)
		vk := T(c.B2*v[k]) + T(T(c.C2*gk)*gk)
		m[k], v[k] = mk, vk
		x[k] -= T(c.LR1*mk) / (T(math.Sqrt(float64(T(vk*c.RB2)))) + c.Eps)
		s[k] = x[k]
	}
}

// adamCase is one random input of the masked Adam update.
type adamCase[T Float] struct {
	x, g, m, v, s []T
	keep          []bool
}

func newAdamCase[T Float](n int, seed uint64) adamCase[T] {
	rng := rand.New(rand.NewPCG(seed, 99))
	c := adamCase[T]{x: make([]T, n), g: make([]T, n), m: make([]T, n), v: make([]T, n), s: make([]T, n), keep: make([]bool, n)}
	for k := 0; k < n; k++ {
		c.x[k] = T(rng.NormFloat64())
		c.g[k] = T(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(9)-6)))
		c.m[k] = T(rng.NormFloat64() * 1e-3)
		c.v[k] = T(math.Abs(rng.NormFloat64()) * 1e-6)
		c.s[k] = T(rng.NormFloat64()) // garbage the update must overwrite
		c.keep[k] = rng.IntN(2) == 0
		switch rng.IntN(16) { // special values: zero gradient, zero moments, −0
		case 0:
			c.g[k] = 0
		case 1:
			c.m[k], c.v[k] = 0, 0
		case 2:
			c.x[k] = T(math.Copysign(0, -1))
		}
	}
	return c
}

func (c adamCase[T]) clone() adamCase[T] {
	return adamCase[T]{x: append([]T(nil), c.x...), g: c.g, m: append([]T(nil), c.m...), v: append([]T(nil), c.v...), s: append([]T(nil), c.s...), keep: c.keep}
}

// bitsEqual compares two slices bit for bit, except that +0 and −0 count as
// equal when zeroSign is set.
func bitsEqual[T Float](t *testing.T, what string, want, got []T, zeroSign bool) {
	t.Helper()
	for k := range want {
		w, g := float64(want[k]), float64(got[k])
		same := math.Float64bits(w) == math.Float64bits(g) || (zeroSign && w == 0 && g == 0)
		require.Truef(t, same, "%s[%d]: want %v (bits %x), got %v (bits %x)", what, k, w, math.Float64bits(w), g, math.Float64bits(g))
	}
}

func checkAdamKeep[T Float](t *testing.T, n int, seed uint64) {
	c := newAdamCase[T](n, seed)
	k := AdamConsts[T]{LR1: T(1e-3 / 0.19), RB2: T(1 / 0.002), Eps: T(1e-8), B1: 0.9, B2: 0.999, C1: T(1 - 0.9), C2: T(1 - 0.999)}
	ref, goLoop, fast := c.clone(), c.clone(), c.clone()
	adamKeepReference(ref.x, ref.g, ref.m, ref.v, ref.keep, ref.s, &k)
	adamKeepGo(goLoop.x, goLoop.g, goLoop.m, goLoop.v, goLoop.keep, goLoop.s, &k)
	// The branch-free loop may flip the sign of a zero where the branching
	// one leaves the value alone (x and the moments of pruned entries),
	// never anything else.
	bitsEqual(t, "go x", ref.x, goLoop.x, true)
	bitsEqual(t, "go s", ref.s, goLoop.s, false)
	bitsEqual(t, "go m", ref.m, goLoop.m, true)
	bitsEqual(t, "go v", ref.v, goLoop.v, true)
	// The unmasked loop: the plain update of every entry.
	dense, denseFast := c.clone(), c.clone()
	adamGo(dense.x, dense.g, dense.m, dense.v, &k)
	for i := range c.x {
		gk := c.g[i]
		mk := T(k.B1*c.m[i]) + T(k.C1*gk)
		vk := T(k.B2*c.v[i]) + T(T(k.C2*gk)*gk)
		want := c.x[i] - T(k.LR1*mk)/(T(math.Sqrt(float64(T(vk*k.RB2))))+k.Eps)
		require.Equal(t, math.Float64bits(float64(want)), math.Float64bits(float64(dense.x[i])), "dense x[%d]", i)
	}
	// Adam and AdamKeep (the assembly where there is one) perform the Go
	// loops' operations: every bit agrees.
	Adam(denseFast.x, denseFast.g, denseFast.m, denseFast.v, &k)
	bitsEqual(t, "dense fast x", dense.x, denseFast.x, false)
	bitsEqual(t, "dense fast m", dense.m, denseFast.m, false)
	bitsEqual(t, "dense fast v", dense.v, denseFast.v, false)
	AdamKeep(fast.x, fast.g, fast.m, fast.v, fast.keep, fast.s, &k)
	bitsEqual(t, "fast x", goLoop.x, fast.x, false)
	bitsEqual(t, "fast s", goLoop.s, fast.s, false)
	bitsEqual(t, "fast m", goLoop.m, fast.m, false)
	bitsEqual(t, "fast v", goLoop.v, fast.v, false)
}

// TestAdamKeepKernels checks the branch-free masked Adam loop and its
// assembly form against the plain branching loop, bit for bit, on lengths
// around the kernel's 8-entry width.
func TestAdamKeepKernels(t *testing.T) {
	t.Logf("AVX2 kernel available: %v", haveAVX2)
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 64, 1000, 4099} {
		t.Run(fmt.Sprintf("n%d", n), func(t *testing.T) {
			checkAdamKeep[float32](t, n, uint64(n))
			checkAdamKeep[float64](t, n, uint64(n)+1)
		})
	}
}
