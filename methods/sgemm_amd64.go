//go:build amd64 && !purego

package methods

import (
	"fmt"
	"sync"

	"golang.org/x/sys/cpu"
)

// haveSgemmFMA reports whether sgemmStrip can run here.
var haveSgemmFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sgemmStrip(m, k, np int, a *float32, rs, ks int, b, c *float32, ldc int, f *float32, ldf int, mode int)

//go:noescape
func spack16(dst *float32, pstride int, src *float32, ld, rows, np int)

//go:noescape
func spack16T(dst, src *float32, ld, cols int)

// sgemmKC × sgemmNC is the block of B that sgemmFMA packs at a time (128
// KiB, for L2); each 16-column panel of it (16 KiB) stays in L1 while the
// kernel runs over it. The blocking does not change the result (see
// sgemmStrip).
const (
	sgemmKC = 256
	sgemmNC = 128
)

// sgemmBuf holds packed blocks of B, one per running sgemmFMA.
var sgemmBuf = sync.Pool{New: func() any { return new([sgemmKC * sgemmNC]float32) }}

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
	buf := sgemmBuf.Get().(*[sgemmKC * sgemmNC]float32)
	defer sgemmBuf.Put(buf)
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
		for j0 := 0; j0 < n; j0 += sgemmNC {
			nc := min(sgemmNC, n-j0)
			// Pack the kc × nc block of B into nc/16 contiguous panels of
			// kc × 16 (transposed when bt): read in place, rows a multiple
			// of 4 KiB apart would compete for the same few L1 sets.
			pstride := kc * 16
			if bt {
				k8 := kc / 8 * 8
				for q0 := 0; q0 < nc; q0 += 16 {
					pan := buf[q0/16*pstride:]
					if k8 > 0 {
						spack16T(&pan[0], &b[(j0+q0)*ldb+p0], ldb, k8)
					}
					for q := 0; q < 16; q++ {
						for p := k8; p < kc; p++ {
							pan[p*16+q] = b[(j0+q0+q)*ldb+p0+p]
						}
					}
				}
			} else {
				spack16(&buf[0], pstride, &b[p0*ldb+j0], ldb, kc, nc/16)
			}
			// Each 6-row strip of A runs over every panel while it is in L1.
			for r := 0; r < m; r += 6 {
				sgemmStrip(min(6, m-r), kc, nc/16, &a[r*rs+p0*ks], rs, ks, &buf[0], &c[r*ldc+j0], ldc, &fb[r*ldfb+j0], ldfb, mode)
			}
		}
	}
	return true
}
