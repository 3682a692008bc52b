//go:build amd64 && !purego

package kernel

//go:generate go run asm_gen.go

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveGemmFMA reports whether the strip kernels of gemm_amd64.s can run here.
var haveGemmFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sgemmStrip(m, k, np int, a unsafe.Pointer, rs, ks int, b, c unsafe.Pointer, ldc int, f unsafe.Pointer, ldf int, mode int)

//go:noescape
func dgemmStrip(m, k, np int, a unsafe.Pointer, rs, ks int, b, c unsafe.Pointer, ldc int, f unsafe.Pointer, ldf int, mode int)

//go:noescape
func packPanels(dst unsafe.Pointer, pstride int, src unsafe.Pointer, ld, rows, np int)

//go:noescape
func spack16T(dst, src unsafe.Pointer, ld, cols int)

//go:noescape
func dpack8T(dst, src unsafe.Pointer, ld, cols int)

// gemmKC is how many steps of the inner dimension gemmFMA packs at a time,
// and gemmBlockBytes the size of a packed block of B (kc × nc entries, for
// L2); each 64-byte-wide panel of it (16 KiB) stays in L1 while a strip of A
// runs over it. The blocking does not change the result (see sgemmStrip).
const (
	gemmKC         = 256
	gemmBlockBytes = 128 << 10
)

// gemmBuf holds packed blocks of B, one per running gemmFMA.
var gemmBuf = sync.Pool{New: func() any { return new([gemmBlockBytes / 8]float64) }}

// gemmFMA computes c = f + a·b for the m × n matrix c (row stride ldc),
// where a's entry (r, p) is a[r·rs + p·ks] (so either orientation of a
// row-major A), b is k × n with row stride ldb (bt false) or n × k with row
// stride ldb and used transposed (bt true), and f is 0 (nil), the m × n
// matrix at f with row stride ldf, or its negation (neg); f may be c. Every
// entry of c is one chain of fused multiply-adds in the order p = 0 … k−1
// starting from f's entry, so results are bitwise independent of the
// blocking and of which goroutine computes which rows. It reports false,
// doing nothing, when the processor lacks AVX2 and FMA or n is not a
// multiple of the panel width (16 float32 or 8 float64 entries).
func gemmFMA[T Float](m, n, k int, a []T, rs, ks int, b []T, ldb int, bt bool, c []T, ldc int, f []T, ldf int, neg bool) bool {
	size := int(unsafe.Sizeof(T(0)))
	w := 64 / size // panel width
	if !haveGemmFMA || n%w != 0 {
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
		panic(fmt.Sprintf("gemmFMA: %d×%d×%d with strides (%d,%d,%d,%d,%d) exceeds slices of %d, %d, %d, %d", m, n, k, rs, ks, ldb, ldc, ldf, len(a), len(b), len(c), len(f)))
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
	strip, packT := sgemmStrip, spack16T
	if size == 8 {
		strip, packT = dgemmStrip, dpack8T
	}
	raw := gemmBuf.Get().(*[gemmBlockBytes / 8]float64)
	defer gemmBuf.Put(raw)
	buf := unsafe.Slice((*T)(unsafe.Pointer(raw)), gemmBlockBytes/size)
	ptr := func(x []T, i int) unsafe.Pointer { return unsafe.Pointer(&x[i]) }
	for p0 := 0; p0 < k; p0 += gemmKC {
		kc := min(gemmKC, k-p0)
		ncMax := len(buf) / kc / w * w
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
		for j0 := 0; j0 < n; j0 += ncMax {
			nc := min(ncMax, n-j0)
			// Pack the kc × nc block of B into nc/w contiguous panels of
			// kc × w (transposed when bt): read in place, rows a multiple of
			// 4 KiB apart would compete for the same few L1 sets.
			pstride := kc * w
			if bt {
				k8 := kc / 8 * 8
				for q0 := 0; q0 < nc; q0 += w {
					pan := buf[q0/w*pstride:]
					if k8 > 0 {
						packT(ptr(pan, 0), ptr(b, (j0+q0)*ldb+p0), ldb, k8)
					}
					for q := 0; q < w; q++ {
						for p := k8; p < kc; p++ {
							pan[p*w+q] = b[(j0+q0+q)*ldb+p0+p]
						}
					}
				}
			} else {
				packPanels(ptr(buf, 0), pstride*size, ptr(b, p0*ldb+j0), ldb*size, kc, nc/w)
			}
			// Each 6-row strip of A runs over every panel while it is in L1.
			for r := 0; r < m; r += 6 {
				strip(min(6, m-r), kc, nc/w, ptr(a, r*rs+p0*ks), rs, ks, ptr(buf, 0), ptr(c, r*ldc+j0), ldc, ptr(fb, r*ldfb+j0), ldfb, mode)
			}
		}
	}
	return true
}
