package methods

import (
	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// float is the storage type of ARMOR's tile kernels. float64 is the default
// and the only type of the theory variants; float32 (ARMORConfig.Precision)
// halves the memory traffic and runs the tile products on sgemm, about twice
// dgemm's rate. Whatever the storage type, sums that decide something — the
// loss, the selection weights, each group's least-squares solve — accumulate
// in float64.
type float = kernel.Float

// Precision is the storage type of ARMOR's working set.
type Precision string

// The storage types.
const (
	Float64 Precision = "float64"
	Float32 Precision = "float32"
)

// convertInto sets dst[k] = T(src[k]) for every k of the shorter slice (a
// plain copy when the types agree).
func convertInto[T, S float](dst []T, src []S) {
	if d, ok := any(dst).([]S); ok {
		copy(d, src)
		return
	}
	src = src[:min(len(src), len(dst))]
	for k, v := range src {
		dst[k] = T(v)
	}
}

// copySymUpper copies the upper triangle of H into dst (n × n, row-major,
// stride n), rounded to T; the strict lower triangle of dst is left
// untouched. Large copies are memory-bound (and fault in fresh pages), so
// they run in parallel row chunks.
func copySymUpper[T float](dst []T, H mat.Symmetric) {
	n := H.SymmetricDim()
	if s, ok := H.(*mat.SymDense); ok {
		raw := s.RawSymmetric()
		if raw.Uplo == blas.Upper {
			kernel.For((n+copyChunk-1)/copyChunk, 0, func(c int) {
				for i := c * copyChunk; i < min((c+1)*copyChunk, n); i++ {
					convertInto(dst[i*n+i:(i+1)*n], raw.Data[i*raw.Stride+i:i*raw.Stride+n])
				}
			})
			return
		}
	}
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			dst[i*n+j] = T(H.At(i, j))
		}
	}
}

// copyChunk is the number of rows of one task of a parallel copy.
const copyChunk = 64
