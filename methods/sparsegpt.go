package methods

import (
	"errors"
	"fmt"

	"github.com/prunebench/armor/internal/kernel"
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
// float64 by default (the reference fixtures are float64); the public code
// uses float32, which SparseGPTConfig.Precision selects for the
// factorization and the column loop.
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
	// LazyBlock is the lazy-update block width (128): how many columns are
	// pruned before their accumulated updates reach the rest of W; a
	// multiple of M.
	LazyBlock int
	// Damp is λ, the relative dampening added to H's diagonal (0.01).
	Damp float64
	// MaxDampRetries bounds how often λ is multiplied by 10 when the Cholesky
	// factorization fails (5).
	MaxDampRetries int
	// Precision is the storage type of the factorization and the column
	// loop: "float64" (the default; empty means float64) or "float32", as in
	// the authors' code, which runs the big products on sgemm at about twice
	// dgemm's rate and halves the memory traffic. In float32, the dampening
	// (λ·mean(diag H)) is computed in float64 from the float64 H, the
	// dampened H is rounded to float32, and U and the updated weights are
	// float32 (the small diagonal blocks of the Cholesky factorization and
	// of the triangular inverse are computed in float64 and rounded); the
	// returned weights are widened to float64, and the losses are evaluated
	// in float64 as for every method.
	Precision Precision
}

// DefaultSparseGPTConfig returns the published settings, in float64.
func DefaultSparseGPTConfig() SparseGPTConfig {
	return SparseGPTConfig{LazyBlock: 128, Damp: 0.01, MaxDampRetries: 5, Precision: Float64}
}

// Validate reports the first impossible setting; a LazyBlock ≤ 0 stands for
// the default 128.
func (c SparseGPTConfig) Validate(p Pattern) error {
	bs := c.LazyBlock
	if bs <= 0 {
		bs = 128
	}
	switch {
	case bs%p.M != 0:
		return fmt.Errorf("sparsegpt lazy block %d is not a multiple of M=%d", bs, p.M)
	case !(c.Damp > 0):
		return fmt.Errorf("sparsegpt dampening %g must be positive", c.Damp)
	}
	switch c.Precision {
	case "", Float64, Float32:
	default:
		return fmt.Errorf("sparsegpt precision %q: want float64 or float32", c.Precision)
	}
	return nil
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
	if cfg.LazyBlock <= 0 {
		cfg.LazyBlock = 128
	}
	if err := cfg.Validate(p); err != nil {
		return nil, nil, err
	}
	if cfg.Precision == Float32 {
		return sparseGPTPrune[float32](l, p, cfg)
	}
	return sparseGPTPrune[float64](l, p, cfg)
}

// sparseGPTPrune runs SparseGPT on the validated l with the weights and U in
// storage type T. In float64 the weights are updated in place in the
// returned matrix; in float32 in a float32 copy, widened at the end.
func sparseGPTPrune[T float](l *Layer, p Pattern, cfg SparseGPTConfig) (*mat.Dense, *Mask, error) {
	rows, cols := l.W.Dims()
	W := mat.NewDense(rows, cols, nil)
	w := W.RawMatrix()
	wt, inPlace := any(w.Data).([]T)
	if !inPlace {
		wt = make([]T, rows*cols)
	}
	src := l.W.RawMatrix()
	kernel.For((rows+copyChunk-1)/copyChunk, 0, func(c int) {
		for i := c * copyChunk; i < min((c+1)*copyChunk, rows); i++ {
			convertInto(wt[i*cols:(i+1)*cols], src.Data[i*src.Stride:i*src.Stride+cols])
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
			row := wt[i*cols:]
			for _, j := range dead {
				row[j] = 0
			}
		}
	}
	u, err := sparseGPTFactor[T](l.Stats.H, cfg)
	if err != nil {
		return nil, nil, err
	}
	mask := NewMask(rows, cols)
	chunks := (rows + sparseGPTChunk - 1) / sparseGPTChunk
	kernel.For(chunks, 0, func(c int) {
		r0, r1 := c*sparseGPTChunk, min((c+1)*sparseGPTChunk, rows)
		sparseGPTRows(wt[r0*cols:], cols, r1-r0, cols, mask.Keep[r0*cols:r1*cols], u, p, cfg.LazyBlock)
		if !inPlace {
			convertInto(w.Data[r0*cols:r1*cols], wt[r0*cols:r1*cols])
		}
	})
	return W, mask, nil
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
func sparseGPTRows[T float](w []T, stride, nr, cols int, keep []bool, u []T, p Pattern, bs int) {
	sub := (max(sparseGPTSub, p.M) + p.M - 1) / p.M * p.M
	if sub > bs {
		sub = bs
	}
	eb := min(bs, cols)
	errs := make([]T, nr*eb) // Err of the current block, nr × eb
	ubuf := make([]T, sub*sub)
	score := make([]T, p.M)
	order := make([]int, p.M)
	is24 := p == Pattern24
	dd := make([]T, cols) // U_kk², the mask score's denominators
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
				kernel.Gemm(blas.NoTrans, blas.NoTrans, -1,
					kernel.Mat[T]{Rows: nr, Cols: s2 - s1, Stride: eb, Data: errs[s1-i1:]},
					kernel.Mat[T]{Rows: s2 - s1, Cols: i2 - s2, Stride: cols, Data: u[s1*cols+s2:]},
					1, kernel.Mat[T]{Rows: nr, Cols: i2 - s2, Stride: stride, Data: w[s2:]})
			}
		}
		if i2 < cols {
			// W[:, i2:] −= Err · U[i1:i2, i2:].
			kernel.Gemm(blas.NoTrans, blas.NoTrans, -1,
				kernel.Mat[T]{Rows: nr, Cols: cnt, Stride: eb, Data: errs},
				kernel.Mat[T]{Rows: cnt, Cols: cols - i2, Stride: cols, Data: u[i1*cols+i2:]},
				1, kernel.Mat[T]{Rows: nr, Cols: cols - i2, Stride: stride, Data: w[i2:]})
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
func sparseGPT24[T float](w []T, stride, nr int, keep []bool, cols int, errs []T, eb, i1, s1, s2 int, ub, dd []T) {
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
func sparseGPTFactor[T float](H mat.Symmetric, cfg SparseGPTConfig) ([]T, error) {
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
	a := make([]T, n*n)
	damp := cfg.Damp
	for try := 0; try <= cfg.MaxDampRetries; try++ {
		copySymUpper(a, H)
		for j, d := range diag {
			a[j*n+j] = T(d + damp*mean)
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
func ulCholesky[T float](a []T, n int) bool {
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
		am := kernel.Mat[T]{Rows: n, Cols: n, Stride: n, Data: a}
		vkk := am.Sub(k0, k0, m, m)
		kernel.For((k0+panelChunk-1)/panelChunk, 0, func(c int) {
			r0, r1 := c*panelChunk, min((c+1)*panelChunk, k0)
			kernel.Trsm(blas.Right, blas.Upper, blas.Trans, 1, vkk, am.Sub(r0, k0, r1-r0, m))
		})
		// A[:k0, :k0] −= P·Pᵀ, P = V[:k0, k0:k1].
		symRankK(blas.NoTrans, -1, am.Sub(0, k0, k0, m), am.Sub(0, 0, k0, k0), cholTasks)
	}
	return true
}

// ulCholeskySmall factors one diagonal block in place (m × m, stride n,
// upper triangle): reversed, it is an ordinary lower Cholesky factorization
// J·A·J = L·Lᵀ, and V = J·L·J. tmp has room for m × m values; the
// factorization runs in float64 whatever T (gonum has no float32 LAPACK).
func ulCholeskySmall[T float](a []T, n, m int, tmp []float64) bool {
	for i := 0; i < m; i++ {
		for j := 0; j <= i; j++ {
			tmp[i*m+j] = float64(a[(m-1-i)*n+(m-1-j)])
		}
	}
	L, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Lower, N: m, Stride: m, Data: tmp[:m*m]})
	if !ok {
		return false
	}
	for i := 0; i < m; i++ {
		for j := i; j < m; j++ {
			a[i*n+j] = T(L.Data[(m-1-i)*L.Stride+(m-1-j)])
		}
	}
	return true
}

// upperInverse returns U = V⁻¹ for the upper triangular V held in v (n × n,
// row-major, stride n), in a new buffer of the same layout, zero below the
// diagonal; false if V is singular.
func upperInverse[T float](v []T, n int) ([]T, bool) {
	u := make([]T, n*n)
	kernel.For((n+copyChunk-1)/copyChunk, 0, func(c int) {
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
func invUpper[T float](a []T, stride, n int) bool {
	if n <= invLeaf {
		return invUpperLeaf(a, stride, n)
	}
	n1 := (n/2 + 63) / 64 * 64
	n2 := n - n1
	var ok [2]bool
	kernel.For(2, 0, func(k int) {
		if k == 0 {
			ok[0] = invUpper(a, stride, n1)
		} else {
			ok[1] = invUpper(a[n1*stride+n1:], stride, n2)
		}
	})
	if !ok[0] || !ok[1] {
		return false
	}
	am := kernel.Mat[T]{Rows: n, Cols: n, Stride: stride, Data: a}
	ainv, cinv := am.Sub(0, 0, n1, n1), am.Sub(n1, n1, n2, n2)
	kernel.For((n2+panelChunk-1)/panelChunk, 0, func(c int) {
		c0, c1 := c*panelChunk, min((c+1)*panelChunk, n2)
		kernel.Trmm(blas.Left, blas.Upper, blas.NoTrans, -1, ainv, am.Sub(0, n1+c0, n1, c1-c0))
	})
	kernel.For((n1+panelChunk-1)/panelChunk, 0, func(c int) {
		r0, r1 := c*panelChunk, min((c+1)*panelChunk, n1)
		kernel.Trmm(blas.Right, blas.Upper, blas.NoTrans, 1, cinv, am.Sub(r0, n1, r1-r0, n2))
	})
	return true
}

// invUpperLeaf is invUpper's leaf: one LAPACK call (dtrtri). In float32 the
// triangle is widened to float64, inverted and rounded back (gonum has no
// float32 LAPACK). The leaves are a small part of the work: at n = 2048 the
// float32 factorization spends about 10 ms of its 77 ms in them and in the
// Cholesky factorization's widened leaves, so a float32 kernel would save
// a few ms at most.
func invUpperLeaf[T float](a []T, stride, n int) bool {
	if a64, ok := any(a).([]float64); ok {
		return lapack64.Trtri(blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: n, Stride: stride, Data: a64})
	}
	buf := make([]float64, n*n)
	for i := 0; i < n; i++ {
		convertInto(buf[i*n+i:(i+1)*n], a[i*stride+i:i*stride+n])
	}
	if !lapack64.Trtri(blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: n, Stride: n, Data: buf}) {
		return false
	}
	for i := 0; i < n; i++ {
		convertInto(a[i*stride+i:i*stride+n], buf[i*n+i:(i+1)*n])
	}
	return true
}
