package methods

import (
	"errors"
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// SparseGPT (Frantar & Alistarh, 2023) prunes with Optimal-Brain-Surgeon
// weight reconstruction, columns left to right in blocks:
//  1. dead inputs (H_jj = 0) get H_jj = 1 and W[:, j] = 0;
//  2. H += λ·mean(diag H)·I (λ = 0.01, multiplied by 10 and retried while a
//     Cholesky factorization fails); U = upper Cholesky factor of H⁻¹;
//  3. in each block, for each column i: at the first column of an N:M group,
//     every row prunes the M−N entries of the group with the smallest
//     w_k²/U_kk² (w the current, already updated values); then
//     err = (w_i − q_i)/U_ii and W[:, i:end] −= err·U[i, i:end];
//  4. after each block, W[:, end:] −= Err·U[block, end:].
//
// Pruned entries are exactly zero; kept ones are updated. Everything runs in
// float64 (the public code uses float32; the reference fixtures are float64).
type SparseGPT struct {
	Pattern Pattern
	Config  SparseGPTConfig
}

// sparseGPTChunk is the number of rows SparseGPT processes as one task.
const sparseGPTChunk = 64

// SparseGPTConfig holds SparseGPT's knobs.
type SparseGPTConfig struct {
	// BlockSize is the lazy-update block width (128); a multiple of M.
	BlockSize int
	// Damp is λ, the relative dampening added to H's diagonal (0.01).
	Damp float64
	// MaxDampRetries bounds how often λ is multiplied by 10 when the Cholesky
	// factorization fails (5).
	MaxDampRetries int
}

// DefaultSparseGPTConfig returns the published settings.
func DefaultSparseGPTConfig() SparseGPTConfig {
	return SparseGPTConfig{BlockSize: 128, Damp: 0.01, MaxDampRetries: 5}
}

// Name returns "sparsegpt".
func (s *SparseGPT) Name() string { return "sparsegpt" }

// Prune runs SparseGPT on l; it needs the full H in l.Stats.
func (s *SparseGPT) Prune(l *Layer) (*Result, error) {
	p := s.Pattern
	if err := l.Check(p); err != nil {
		return nil, err
	}
	if l.Stats.H == nil {
		return nil, errors.New("sparsegpt needs the full Hessian H (give X or H, not only hessian_diag)")
	}
	cfg := s.Config
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = 128
	}
	if cfg.BlockSize%p.M != 0 {
		return nil, fmt.Errorf("sparsegpt block size %d is not a multiple of M=%d", cfg.BlockSize, p.M)
	}
	if cfg.Damp <= 0 {
		return nil, fmt.Errorf("sparsegpt dampening %g must be positive", cfg.Damp)
	}
	rows, cols := l.W.Dims()
	W := mat.DenseCopyOf(l.W)
	H := mat.NewSymDense(cols, nil)
	H.CopySym(l.Stats.H)
	for j := 0; j < cols; j++ {
		if H.At(j, j) == 0 {
			H.SetSym(j, j, 1)
			for i := 0; i < rows; i++ {
				W.Set(i, j, 0)
			}
		}
	}
	U, err := sparseGPTFactor(H, cfg)
	if err != nil {
		return nil, err
	}
	mask := NewMask(rows, cols)
	u := U.RawTriangular()
	w := W.RawMatrix()
	// Rows are independent in SparseGPT (the mask choice and the updates of
	// a row use only that row), so they are processed in fixed chunks of
	// sparseGPTChunk rows in parallel; the chunking does not depend on the
	// number of cores, so neither do the results.
	chunks := (rows + sparseGPTChunk - 1) / sparseGPTChunk
	errBlk := mat.NewDense(rows, min(cfg.BlockSize, cols), nil)
	for i1 := 0; i1 < cols; i1 += cfg.BlockSize {
		i2 := min(i1+cfg.BlockSize, cols)
		cnt := i2 - i1
		eb := errBlk.RawMatrix()
		parallelFor(chunks, 0, func(c int) {
			r0, r1 := c*sparseGPTChunk, min((c+1)*sparseGPTChunk, rows)
			score := make([]float64, p.M)
			order := make([]int, p.M)
			for r := r0; r < r1; r++ {
				row := w.Data[r*w.Stride:]
				erow := eb.Data[r*eb.Stride : r*eb.Stride+cnt]
				clear(erow)
				for i := i1; i < i2; i++ {
					if (i-i1)%p.M == 0 {
						// Prune the M−N entries of group i..i+M−1 with the
						// smallest w²/U_kk²; ties prune the later column.
						for k := 0; k < p.M; k++ {
							d := u.Data[(i+k)*u.Stride+i+k]
							score[k] = row[i+k] * row[i+k] / (d * d)
							order[k] = k
						}
						for a := 0; a < p.N; a++ {
							best := a
							for b := a + 1; b < p.M; b++ {
								if score[order[b]] > score[order[best]] ||
									(score[order[b]] == score[order[best]] && order[b] < order[best]) {
									best = b
								}
							}
							order[a], order[best] = order[best], order[a]
						}
						for a := 0; a < p.N; a++ {
							mask.Keep[r*cols+i+order[a]] = true
						}
					}
					if mask.Keep[r*cols+i] {
						continue
					}
					d := u.Data[i*u.Stride+i]
					urow := u.Data[i*u.Stride+i : i*u.Stride+i2]
					seg := row[i:i2]
					e := seg[0] / d
					for k := range seg {
						seg[k] -= e * urow[k]
					}
					seg[0] = 0 // exactly zero, not a rounding residue
					erow[i-i1] = e
				}
			}
			if i2 < cols {
				// W[r0:r1, i2:] −= Err[r0:r1] · U[i1:i2, i2:].
				blas64.Gemm(blas.NoTrans, blas.NoTrans, -1,
					blas64.General{Rows: r1 - r0, Cols: cnt, Stride: eb.Stride, Data: eb.Data[r0*eb.Stride:]},
					blas64.General{Rows: cnt, Cols: cols - i2, Stride: u.Stride, Data: u.Data[i1*u.Stride+i2:]},
					1, blas64.General{Rows: r1 - r0, Cols: cols - i2, Stride: w.Stride, Data: w.Data[r0*w.Stride+i2:]})
			}
		})
	}
	res := &Result{Method: s.Name(), Pattern: p, Mask: mask, What: W}
	return finish(l, Normalize(l.W), res)
}

// sparseGPTFactor dampens H (in place) and returns the upper Cholesky factor
// U of H⁻¹ (UᵀU = H⁻¹), raising the dampening tenfold while a factorization
// fails. With J the reversal permutation and JHJ = L·Lᵀ (lower Cholesky),
// U = J·L⁻¹·J: one Cholesky factorization and one triangular inverse, instead
// of inverting H and factorizing the inverse.
func sparseGPTFactor(H *mat.SymDense, cfg SparseGPTConfig) (*mat.TriDense, error) {
	n := H.SymmetricDim()
	mean := 0.0
	for j := 0; j < n; j++ {
		mean += H.At(j, j)
	}
	mean /= float64(n)
	damp := cfg.Damp
	hs := mat.NewDense(n, n, nil) // H reversed: hs[i][j] = H[n−1−i][n−1−j]
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := H.At(n-1-i, n-1-j)
			hs.Set(i, j, v)
			hs.Set(j, i, v)
		}
	}
	for try := 0; try <= cfg.MaxDampRetries; try++ {
		// LAPACK directly: mat.Cholesky would also estimate a condition
		// number, which costs as much as the factorization here.
		P := blas64.Symmetric{N: n, Stride: n, Uplo: blas.Lower, Data: make([]float64, n*n)}
		copy(P.Data, hs.RawMatrix().Data)
		for j := 0; j < n; j++ {
			P.Data[j*n+j] += damp * mean
		}
		if L, ok := lapack64.Potrf(P); ok {
			if lapack64.Trtri(L) {
				U := mat.NewTriDense(n, mat.Upper, nil)
				for i := 0; i < n; i++ {
					for j := i; j < n; j++ {
						U.SetTri(i, j, L.Data[(n-1-i)*L.Stride+(n-1-j)])
					}
				}
				return U, nil
			}
		}
		damp *= 10
	}
	return nil, fmt.Errorf("sparsegpt: H is not positive definite even with dampening %g·mean(diag H)", damp/10)
}
