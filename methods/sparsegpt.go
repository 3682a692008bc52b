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
//
// The implementation computes the same quantities with almost all flops in
// BLAS-3 calls: U comes from a blocked, parallel "UL" Cholesky factorization
// and a blocked, parallel triangular inverse (sparseGPTFactor), and the
// column loop applies even the updates inside a block lazily, one
// sparseGPTSub-column sub-block at a time (sparseGPTRows).
type SparseGPT struct {
	Pattern Pattern
	Config  SparseGPTConfig
}

const (
	// sparseGPTChunk is the number of rows SparseGPT processes as one task.
	// Rows are independent in SparseGPT, so each chunk runs the whole column
	// loop on its own; the chunking does not depend on the number of cores,
	// so neither do the results.
	sparseGPTChunk = 256
	// sparseGPTSub is the (minimum) width of the sub-blocks inside a block:
	// columns of a sub-block update each other one by one, later columns of
	// the block get the sub-block's updates in one matrix product. Rounded
	// up to a multiple of M.
	sparseGPTSub = 16
	// factorBlock is the block size of the Cholesky factorization.
	factorBlock = 256
	// cholTasks is the number of tasks of each update of the leading
	// matrix in the Cholesky factorization.
	cholTasks = 8
	// invLeaf is the size up to which invUpper inverts a triangle with one
	// LAPACK call.
	invLeaf = 256
	// panelChunk is the number of rows of one task of a triangular solve on
	// a panel.
	panelChunk = 256
)

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
	What, mask, err := s.prune(l)
	if err != nil {
		return nil, err
	}
	res := &Result{Method: s.Name(), Pattern: s.Pattern, Mask: mask, What: What}
	return finish(l, Normalize(l.W), res)
}

// prune validates l and runs SparseGPT, returning the pruned weights and
// their mask without evaluating them (Prune adds the losses).
func (s *SparseGPT) prune(l *Layer) (*mat.Dense, *Mask, error) {
	p := s.Pattern
	if err := l.Check(p); err != nil {
		return nil, nil, err
	}
	if l.Stats.H == nil {
		return nil, nil, errors.New("sparsegpt needs the full Hessian H (give X or H, not only hessian_diag)")
	}
	cfg := s.Config
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = 128
	}
	if cfg.BlockSize%p.M != 0 {
		return nil, nil, fmt.Errorf("sparsegpt block size %d is not a multiple of M=%d", cfg.BlockSize, p.M)
	}
	if cfg.Damp <= 0 {
		return nil, nil, fmt.Errorf("sparsegpt dampening %g must be positive", cfg.Damp)
	}
	rows, cols := l.W.Dims()
	W := mat.NewDense(rows, cols, nil)
	w := W.RawMatrix()
	src := l.W.RawMatrix()
	parallelFor((rows+copyChunk-1)/copyChunk, 0, func(c int) {
		for i := c * copyChunk; i < min((c+1)*copyChunk, rows); i++ {
			copy(w.Data[i*w.Stride:i*w.Stride+cols], src.Data[i*src.Stride:i*src.Stride+cols])
		}
	})
	// Dead inputs (H_jj = 0) carry no signal: their weights are zeroed and
	// sparseGPTFactor treats their H_jj as 1.
	var dead []int
	for j := 0; j < cols; j++ {
		if l.Stats.H.At(j, j) == 0 {
			dead = append(dead, j)
		}
	}
	if len(dead) > 0 {
		for i := 0; i < rows; i++ {
			row := w.Data[i*w.Stride:]
			for _, j := range dead {
				row[j] = 0
			}
		}
	}
	u, err := sparseGPTFactor(l.Stats.H, cfg)
	if err != nil {
		return nil, nil, err
	}
	mask := NewMask(rows, cols)
	chunks := (rows + sparseGPTChunk - 1) / sparseGPTChunk
	parallelFor(chunks, 0, func(c int) {
		r0, r1 := c*sparseGPTChunk, min((c+1)*sparseGPTChunk, rows)
		sparseGPTRows(w.Data[r0*w.Stride:], w.Stride, r1-r0, cols, mask.Keep[r0*cols:r1*cols], u, p, cfg.BlockSize)
	})
	return W, mask, nil
}

// copyChunk is the number of rows of one task of a parallel copy.
const copyChunk = 64

// copySymUpper copies the upper triangle of H into dst (n × n, row-major,
// stride n); the strict lower triangle of dst is left untouched. Large
// copies are memory-bound (and fault in fresh pages), so they run in
// parallel row chunks.
func copySymUpper(dst []float64, H mat.Symmetric) {
	n := H.SymmetricDim()
	if s, ok := H.(*mat.SymDense); ok {
		raw := s.RawSymmetric()
		if raw.Uplo == blas.Upper {
			parallelFor((n+copyChunk-1)/copyChunk, 0, func(c int) {
				for i := c * copyChunk; i < min((c+1)*copyChunk, n); i++ {
					copy(dst[i*n+i:(i+1)*n], raw.Data[i*raw.Stride+i:i*raw.Stride+n])
				}
			})
			return
		}
	}
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			dst[i*n+j] = H.At(i, j)
		}
	}
}

// sparseGPTRows runs SparseGPT's column loop on nr rows of W (row-major with
// the given stride), writing their mask (nr × cols, row-major) into keep.
// U is the upper Cholesky factor of H⁻¹ (cols × cols, stride cols).
//
// The arithmetic is that of steps 3–4 with the updates inside a block made
// lazy too: a block is cut into sub-blocks of sub columns (a multiple of M,
// so an N:M group never straddles two sub-blocks); inside a sub-block each
// pruned column updates the rest of the sub-block at once, and when the
// sub-block is done, the rest of the block gets all its updates in one
// product W[:, s2:i2] −= Err[:, sub]·U[sub, s2:i2]. Every weight thus has
// received every earlier column's update when its group's mask is chosen.
func sparseGPTRows(w []float64, stride, nr, cols int, keep []bool, u []float64, p Pattern, bs int) {
	sub := (max(sparseGPTSub, p.M) + p.M - 1) / p.M * p.M
	if sub > bs {
		sub = bs
	}
	eb := min(bs, cols)
	errs := make([]float64, nr*eb) // Err of the current block, nr × eb
	ubuf := make([]float64, sub*sub)
	score := make([]float64, p.M)
	order := make([]int, p.M)
	is24 := p == Pattern24
	dd := make([]float64, cols) // U_kk², the mask score's denominators
	for k := range dd {
		d := u[k*cols+k]
		dd[k] = d * d
	}
	for i1 := 0; i1 < cols; i1 += bs {
		i2 := min(i1+bs, cols)
		cnt := i2 - i1
		clear(errs)
		for s1 := i1; s1 < i2; s1 += sub {
			s2 := min(s1+sub, i2)
			// U's diagonal block of the sub-block, contiguous: its rows are
			// cols apart in U, which maps them all to the same few L1 sets.
			sw := s2 - s1
			ub := ubuf[:sw*sw]
			clear(ub)
			for a := 0; a < sw; a++ {
				copy(ub[a*sw+a:(a+1)*sw], u[(s1+a)*cols+s1+a:(s1+a)*cols+s2])
			}
			if is24 {
				sparseGPT24(w, stride, nr, keep, cols, errs, eb, i1, s1, s2, ub, dd[s1:s2])
			}
			for r := 0; r < nr && !is24; r++ {
				row := w[r*stride : r*stride+cols]
				krow := keep[r*cols : (r+1)*cols]
				erow := errs[r*eb : r*eb+cnt]
				for i := s1; i < s2; i++ {
					if (i-i1)%p.M == 0 {
						// Prune the M−N entries of group i..i+M−1 with the
						// smallest w²/U_kk²; ties prune the later column.
						for k := 0; k < p.M; k++ {
							score[k] = row[i+k] * row[i+k] / dd[i+k]
						}
						for k := range order {
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
							krow[i+order[a]] = true
						}
					}
					if krow[i] {
						continue
					}
					urow := u[i*cols+i : i*cols+s2]
					seg := row[i:s2]
					e := seg[0] / urow[0]
					for k := 1; k < len(seg); k++ {
						seg[k] -= e * urow[k]
					}
					seg[0] = 0 // exactly zero, not a rounding residue
					erow[i-i1] = e
				}
			}
			if s2 < i2 {
				// W[:, s2:i2] −= Err[:, s1:s2] · U[s1:s2, s2:i2].
				blas64.Gemm(blas.NoTrans, blas.NoTrans, -1,
					blas64.General{Rows: nr, Cols: s2 - s1, Stride: eb, Data: errs[s1-i1:]},
					blas64.General{Rows: s2 - s1, Cols: i2 - s2, Stride: cols, Data: u[s1*cols+s2:]},
					1, blas64.General{Rows: nr, Cols: i2 - s2, Stride: stride, Data: w[s2:]})
			}
		}
		if i2 < cols {
			// W[:, i2:] −= Err · U[i1:i2, i2:].
			blas64.Gemm(blas.NoTrans, blas.NoTrans, -1,
				blas64.General{Rows: nr, Cols: cnt, Stride: eb, Data: errs},
				blas64.General{Rows: cnt, Cols: cols - i2, Stride: cols, Data: u[i1*cols+i2:]},
				1, blas64.General{Rows: nr, Cols: cols - i2, Stride: stride, Data: w[i2:]})
		}
	}
}

// prunedOf24 lists, for each kept pair {a, b} of a 2:4 group (indexed by the
// bit set 1<<a | 1<<b), the two pruned positions in increasing order.
var prunedOf24 = func() (t [16][2]int) {
	for set := range t {
		k := 0
		for j := 0; j < 4; j++ {
			if set&(1<<j) == 0 && k < 2 {
				t[set][k] = j
				k++
			}
		}
	}
	return t
}()

// sparseGPT24 is the inner loop of sparseGPTRows for the 2:4 pattern, on
// the sub-block s1..s2 (w columns) of nr rows: w holds the rows (stride
// given), keep their masks (stride cols), errs their errors in the current
// block starting at column i1 (stride eb), ub is U's w × w diagonal block
// (stride w) and dd holds U_kk² for the sub-block. Per row and group, it
// keeps the two entries with the largest w²/U_kk², then prunes the other two
// in column order, each updating the rest of the sub-block in that row.
//
// The loop runs over groups outside and rows inside: one row's work is a
// chain of dependent divisions and updates, while consecutive rows are
// independent, so the processor overlaps them.
func sparseGPT24(w []float64, stride, nr int, keep []bool, cols int, errs []float64, eb, i1, s1, s2 int, ub, dd []float64) {
	sw := s2 - s1
	for g := 0; g+4 <= sw; g += 4 {
		d := dd[g : g+4 : g+4]
		for r := 0; r < nr; r++ {
			row := w[r*stride+s1 : r*stride+s2]
			x := row[g : g+4 : g+4]
			c0, c1, c2, c3 := x[0]*x[0]/d[0], x[1]*x[1]/d[1], x[2]*x[2]/d[2], x[3]*x[3]/d[3]
			// Keep the two largest scores, ties to the lower column (as
			// top2of4), without branches: an entry is kept when fewer than
			// two others come before it in that order.
			b01, b02, b03 := b2i(c0 >= c1), b2i(c0 >= c2), b2i(c0 >= c3)
			b12, b13, b23 := b2i(c1 >= c2), b2i(c1 >= c3), b2i(c2 >= c3)
			k0 := 3-b01-b02-b03 < 2
			k1 := b01+1-b12+1-b13 < 2
			k2 := b02+b12+1-b23 < 2
			k3 := b03+b13+b23 < 2
			krow := keep[r*cols+s1+g : r*cols+s1+g+4 : r*cols+s1+g+4]
			krow[0], krow[1], krow[2], krow[3] = k0, k1, k2, k3
			set := b2i(k0) | b2i(k1)<<1 | b2i(k2)<<2 | b2i(k3)<<3
			erow := errs[r*eb+s1-i1 : r*eb+s2-i1]
			seg := row[g:]
			for _, k := range prunedOf24[set] {
				// Update the rest of the sub-block from the group's start:
				// ub is zero left of its diagonal, so the entries before
				// column g+k are unchanged, and a fixed length per group
				// keeps the loop's branches predictable.
				i := g + k
				ur := ub[i*sw+g : (i+1)*sw]
				ur = ur[:len(seg)]
				e := row[i] / ub[i*sw+i]
				for t := range seg {
					seg[t] -= e * ur[t]
				}
				row[i] = 0 // exactly zero, not a rounding residue
				erow[i] = e
			}
		}
	}
}

// sparseGPTFactor returns U, the upper Cholesky factor of the inverse of
// the dampened H (UᵀU = (H + λ·mean(diag H)·I)⁻¹, dead inputs' H_jj taken
// as 1), raising λ tenfold while the factorization fails. U is n × n,
// row-major with stride n, zero below the diagonal.
//
// With H = V·Vᵀ, V upper triangular (a "UL" Cholesky factorization: the
// ordinary one of H with rows and columns reversed), H⁻¹ = V⁻ᵀ·V⁻¹, so
// U = V⁻¹: one factorization and one triangular inverse, n³/3 flops each,
// instead of inverting H and factorizing the inverse.
func sparseGPTFactor(H mat.Symmetric, cfg SparseGPTConfig) ([]float64, error) {
	n := H.SymmetricDim()
	diag := make([]float64, n)
	mean := 0.0
	for j := range diag {
		diag[j] = H.At(j, j)
		if diag[j] == 0 {
			diag[j] = 1
		}
		mean += diag[j]
	}
	mean /= float64(n)
	a := make([]float64, n*n)
	damp := cfg.Damp
	for try := 0; try <= cfg.MaxDampRetries; try++ {
		copySymUpper(a, H)
		for j, d := range diag {
			a[j*n+j] = d + damp*mean
		}
		if ulCholesky(a, n) {
			if u, ok := upperInverse(a, n); ok {
				return u, nil
			}
		}
		damp *= 10
	}
	return nil, fmt.Errorf("sparsegpt: H is not positive definite even with dampening %g·mean(diag H)", damp/10)
}

// ulCholesky overwrites the upper triangle of the symmetric a (n × n,
// row-major, stride n, upper triangle given) with V, upper triangular, such
// that a = V·Vᵀ; it reports false when a is not (numerically) positive
// definite. The strict lower triangle is not referenced.
//
// Blocked and right-looking, from the last block of factorBlock columns to
// the first: factor the diagonal block A_kk = V_kk·V_kkᵀ, solve the panel
// V[:k, k] = A[:k, k]·V_kk⁻ᵀ (row chunks in parallel), and update the
// leading matrix A[:k, :k] −= V[:k, k]·V[:k, k]ᵀ (column panels in
// parallel, see symRankK). Every task writes its own entries and the task
// split does not depend on the number of cores, so neither does V.
func ulCholesky(a []float64, n int) bool {
	nblk := (n + factorBlock - 1) / factorBlock
	tmp := make([]float64, factorBlock*factorBlock)
	for kb := nblk - 1; kb >= 0; kb-- {
		k0, k1 := kb*factorBlock, min((kb+1)*factorBlock, n)
		m := k1 - k0
		if !ulCholeskySmall(a[k0*n+k0:], n, m, tmp) {
			return false
		}
		if k0 == 0 {
			break
		}
		vkk := blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: m, Stride: n, Data: a[k0*n+k0:]}
		parallelFor((k0+panelChunk-1)/panelChunk, 0, func(c int) {
			r0, r1 := c*panelChunk, min((c+1)*panelChunk, k0)
			blas64.Trsm(blas.Right, blas.Trans, 1, vkk, subGeneral(a, n, r0, k0, r1-r0, m))
		})
		// A[:k0, :k0] −= P·Pᵀ, P = V[:k0, k0:k1].
		symRankK(blas.NoTrans, -1, subGeneral(a, n, 0, k0, k0, m),
			blas64.Symmetric{Uplo: blas.Upper, N: k0, Stride: n, Data: a}, cholTasks)
	}
	return true
}

// ulCholeskySmall factors one diagonal block in place (m × m, stride n,
// upper triangle): reversed, it is an ordinary lower Cholesky factorization
// J·A·J = L·Lᵀ, and V = J·L·J. tmp has room for m × m values.
func ulCholeskySmall(a []float64, n, m int, tmp []float64) bool {
	for i := 0; i < m; i++ {
		for j := 0; j <= i; j++ {
			tmp[i*m+j] = a[(m-1-i)*n+(m-1-j)]
		}
	}
	L, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Lower, N: m, Stride: m, Data: tmp[:m*m]})
	if !ok {
		return false
	}
	for i := 0; i < m; i++ {
		for j := i; j < m; j++ {
			a[i*n+j] = L.Data[(m-1-i)*L.Stride+(m-1-j)]
		}
	}
	return true
}

// upperInverse returns U = V⁻¹ for the upper triangular V held in v (n × n,
// row-major, stride n), in a new buffer of the same layout, zero below the
// diagonal; false if V is singular.
func upperInverse(v []float64, n int) ([]float64, bool) {
	u := make([]float64, n*n)
	parallelFor((n+copyChunk-1)/copyChunk, 0, func(c int) {
		for i := c * copyChunk; i < min((c+1)*copyChunk, n); i++ {
			copy(u[i*n+i:(i+1)*n], v[i*n+i:(i+1)*n])
		}
	})
	return u, invUpper(u, n, n)
}

// invUpper overwrites the n × n upper triangular T held in a (row-major,
// given stride) with T⁻¹, recursively: with T = [A B; 0 C],
// T⁻¹ = [A⁻¹ −A⁻¹·B·C⁻¹; 0 C⁻¹]. A and C are inverted in parallel, then B
// is multiplied by −A⁻¹ from the left (column chunks in parallel) and by C⁻¹
// from the right (row chunks in parallel): n³/3 flops as in LAPACK's
// dtrtri, but in large triangular products that run on every core. The
// split depends on n alone, so the result does not depend on the number of
// cores. It reports false if T is singular.
func invUpper(a []float64, stride, n int) bool {
	if n <= invLeaf {
		return lapack64.Trtri(blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: n, Stride: stride, Data: a})
	}
	n1 := (n/2 + 63) / 64 * 64
	n2 := n - n1
	var ok [2]bool
	parallelFor(2, 0, func(k int) {
		if k == 0 {
			ok[0] = invUpper(a, stride, n1)
		} else {
			ok[1] = invUpper(a[n1*stride+n1:], stride, n2)
		}
	})
	if !ok[0] || !ok[1] {
		return false
	}
	ainv := blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: n1, Stride: stride, Data: a}
	cinv := blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: n2, Stride: stride, Data: a[n1*stride+n1:]}
	parallelFor((n2+panelChunk-1)/panelChunk, 0, func(c int) {
		c0, c1 := c*panelChunk, min((c+1)*panelChunk, n2)
		blas64.Trmm(blas.Left, blas.NoTrans, -1, ainv, subGeneral(a, stride, 0, n1+c0, n1, c1-c0))
	})
	parallelFor((n1+panelChunk-1)/panelChunk, 0, func(c int) {
		r0, r1 := c*panelChunk, min((c+1)*panelChunk, n1)
		blas64.Trmm(blas.Right, blas.NoTrans, 1, cinv, subGeneral(a, stride, r0, n1, r1-r0, n2))
	})
	return true
}
