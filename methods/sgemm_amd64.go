//go:build amd64 && !purego

package methods

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// haveSgemmFMA reports whether sgemm6x16 can run here.
var haveSgemmFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sgemm6x16(m, k int, a *float32, rs, ks int, b *float32, ldb int, c *float32, ldc int, f *float32, ldf int, mode int)

//go:noescape
func spack16(dst, src *float32, ld, rows int)

//go:noescape
func spack16T(dst, src *float32, ld, cols int)

// sgemmKC is how many steps of the inner dimension sgemmFMA runs per pass
// over a 16-column panel of B: 256 rows of 16 floats stay in L1. It does not
// change the result (see sgemm6x16).
const sgemmKC = 256

// sgemmFMA computes c = f + a·b for the m × n matrix c (row stride ldc),
// where a's entry (r, p) is a[r·rs + p·ks] (so either orientation of a
// row-major A), b is k × n with row stride ldb (bt false) or n × k with row
// stride ldb and used transposed (bt true), and f is 0 (nil), the m × n
// matrix at f with row stride ldf, or its negation (neg); f may be c. Every
// entry of c is one chain of fused multiply-adds in the order p = 0 … k−1
// starting from f's entry, so results are bitwise independent of the
// blocking and of which goroutine computes which rows. It reports false,
// doing nothing, when the processor lacks AVX2 and FMA or n is not a
// multiple of 16.
func sgemmFMA(m, n, k int, a []float32, rs, ks int, b []float32, ldb int, bt bool, c []float32, ldc int, f []float32, ldf int, neg bool) bool {
	if !haveSgemmFMA || n%16 != 0 {
		return false
	}
	if m == 0 || n == 0 {
		return true
	}
	bEnd := (k-1)*ldb + n
	if bt {
		bEnd = (n-1)*ldb + k
	}
	if (k > 0 && ((m-1)*rs+(k-1)*ks >= len(a) || bEnd > len(b))) || (m-1)*ldc+n > len(c) ||
		(f != nil && (m-1)*ldf+n > len(f)) || rs < 0 || ks < 0 {
		panic(fmt.Sprintf("sgemmFMA: %d×%d×%d with strides (%d,%d,%d,%d,%d) exceeds slices of %d, %d, %d, %d", m, n, k, rs, ks, ldb, ldc, ldf, len(a), len(b), len(c), len(f)))
	}
	if k == 0 {
		for r := 0; r < m; r++ {
			cr := c[r*ldc : r*ldc+n]
			switch {
			case f == nil:
				clear(cr)
			case neg:
				for j, x := range f[r*ldf : r*ldf+n] {
					cr[j] = 0 - x
				}
			default:
				copy(cr, f[r*ldf:r*ldf+n])
			}
		}
		return true
	}
	var panel [sgemmKC * 16]float32
	for p0 := 0; p0 < k; p0 += sgemmKC {
		kc := min(sgemmKC, k-p0)
		// The first pass starts from f, the later ones from c.
		mode, fb, ldfb := 1, c, ldc
		switch {
		case p0 > 0:
		case f == nil:
			mode = 0
		case neg:
			mode, fb, ldfb = 2, f, ldf
		default:
			fb, ldfb = f, ldf
		}
		for j := 0; j < n; j += 16 {
			// The panel is copied to contiguous memory first (transposed
			// when bt): with a row stride of a multiple of 4 KiB its rows
			// would all compete for the same few L1 sets.
			if bt {
				k8 := kc / 8 * 8
				if k8 > 0 {
					spack16T(&panel[0], &b[j*ldb+p0], ldb, k8)
				}
				for q := 0; q < 16; q++ {
					for p := k8; p < kc; p++ {
						panel[p*16+q] = b[(j+q)*ldb+p0+p]
					}
				}
			} else {
				spack16(&panel[0], &b[p0*ldb+j], ldb, kc)
			}
			for r := 0; r < m; r += 6 {
				sgemm6x16(min(6, m-r), kc, &a[r*rs+p0*ks], rs, ks, &panel[0], 16, &c[r*ldc+j], ldc, &fb[r*ldfb+j], ldfb, mode)
			}
		}
	}
	return true
}
