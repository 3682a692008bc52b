package methods

import (
	"fmt"
	"math"

	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"gonum.org/v1/gonum/mat"
)

// normEps is the +1e-5 added to NoWag's column and row norms. It matters at
// the 1e-5 relative level, so it is not optional.
const normEps = 1e-5

// Normalization is NoWag's two-sided normalization W = diag(R)·Wbar·diag(C):
// C_j = ‖W[:, j]‖₂ + 1e-5 (columns first), W' = W·diag(C)⁻¹,
// R_i = ‖W'[i, :]‖₂ + 1e-5, Wbar = diag(R)⁻¹·W'.
// The proxy loss of every method is measured in this space, with R and C
// always taken from the original W.
type Normalization struct {
	R, C []float64
	Wbar *mat.Dense
}

// Normalize computes NoWag's normalization of W.
//
// The sums are those of the straightforward sequential code, term for term
// and in the same order (each column over the rows top to bottom, each row
// left to right), so the result does not depend on the number of threads and
// is bitwise that of the textbook formula.
func Normalize(W mat.Matrix) *Normalization {
	w := rawOf(W)
	rows, cols := w.Rows, w.Cols
	n := &Normalization{R: make([]float64, rows), C: columnNorms(w), Wbar: mat.NewDense(rows, cols, nil)}
	out := n.Wbar.RawMatrix()
	kernel.For(rows, 0, func(i int) {
		row := out.Data[i*out.Stride : i*out.Stride+cols]
		n.R[i] = normalizeRow(w.Data[i*w.Stride:i*w.Stride+cols], n.C, row)
	})
	return n
}

// normalizeRow writes one row of Wbar, (w_j/C_j)/R, into out and returns the
// row norm R = ‖w/C‖₂ + 1e-5.
func normalizeRow(w, C, out []float64) float64 {
	out = out[:len(w)]
	r := rowOverC(w, C, out)
	for j := range out {
		out[j] /= r
	}
	return r
}

// rowOverC writes w_j/C_j into out and returns NoWag's row norm
// R = ‖w/C‖₂ + 1e-5 (the first half of normalizeRow).
func rowOverC(w, C, out []float64) float64 {
	out, C = out[:len(w)], C[:len(w)]
	s := 0.0
	for j, v := range w {
		x := v / C[j]
		out[j] = x
		s += float64(x * x)
	}
	return math.Sqrt(s) + normEps
}

// colChunk is the widest column strip columnNorms gives one task. The
// width only affects speed: at d_in = 2048, strips of 512 columns (4 KiB of
// a row) took half the time of strips of 128.
const colChunk = 512

// columnNorms returns C_j = ‖W[:, j]‖₂ + 1e-5. Each strip of columns is one
// task that adds the rows in order, so every C_j is the same sequential sum
// whatever the number of threads. Four rows are added per sweep of a strip
// (still in row order for each column): a quarter of the accumulator
// traffic, and four streams for the prefetcher.
func columnNorms(w blas64.General) []float64 {
	c := make([]float64, w.Cols)
	// At least four strips when there are 256 columns or more, for the cores.
	width := min(colChunk, max(64, (numChunks(w.Cols, 4)+7)/8*8))
	kernel.For(numChunks(w.Cols, width), 0, func(k int) {
		j0, j1 := k*width, min((k+1)*width, w.Cols)
		acc := c[j0:j1]
		i := 0
		for ; i+4 <= w.Rows; i += 4 {
			r0 := w.Data[i*w.Stride+j0 : i*w.Stride+j1]
			r1 := w.Data[(i+1)*w.Stride+j0 : (i+1)*w.Stride+j1]
			r2 := w.Data[(i+2)*w.Stride+j0 : (i+2)*w.Stride+j1]
			r3 := w.Data[(i+3)*w.Stride+j0 : (i+3)*w.Stride+j1]
			r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
			acc := acc[:len(r0)]
			for j, v := range r0 {
				s := acc[j] + float64(v*v)
				s += float64(r1[j] * r1[j])
				s += float64(r2[j] * r2[j])
				s += float64(r3[j] * r3[j])
				acc[j] = s
			}
		}
		for ; i < w.Rows; i++ {
			row := w.Data[i*w.Stride+j0 : i*w.Stride+j1]
			for j, v := range row {
				acc[j] += v * v
			}
		}
		for j, s := range acc {
			acc[j] = math.Sqrt(s) + normEps
		}
	})
	return c
}

// rawOf returns the storage of m, copying only when m is not a *mat.Dense.
func rawOf(m mat.Matrix) blas64.General {
	if d, ok := m.(*mat.Dense); ok {
		return d.RawMatrix()
	}
	return mat.DenseCopyOf(m).RawMatrix()
}

// ToNormalized maps a candidate Ŵ into normalized space: diag(R)⁻¹·Ŵ·diag(C)⁻¹.
func (n *Normalization) ToNormalized(What mat.Matrix) *mat.Dense {
	rows, cols := What.Dims()
	out := mat.NewDense(rows, cols, nil)
	w := rawOf(What)
	kernel.For(rows, 0, func(i int) {
		row := out.RawRowView(i)
		src := w.Data[i*w.Stride : i*w.Stride+cols]
		ri := n.R[i]
		for j, v := range src {
			row[j] = v / (ri * n.C[j])
		}
	})
	return out
}

// FromNormalized maps a normalized-space matrix back: diag(R)·Wn·diag(C).
func (n *Normalization) FromNormalized(Wn mat.Matrix) *mat.Dense {
	rows, cols := Wn.Dims()
	out := mat.NewDense(rows, cols, nil)
	n.fromNormalizedInto(out, rawOf(Wn))
	return out
}

// fromNormalizedInto writes diag(r)·w·diag(c) into out (same shape; w may
// be out's own storage: each entry is read before it is written).
func (n *Normalization) fromNormalizedInto(out *mat.Dense, w blas64.General) {
	rows, cols := out.Dims()
	kernel.For(rows, 0, func(i int) {
		row := out.RawRowView(i)
		src := w.Data[i*w.Stride : i*w.Stride+cols]
		ri := n.R[i]
		for j, v := range src {
			row[j] = v * ri * n.C[j]
		}
	})
}

// ProxyDenominator is Σ_ij hdiag_j·Wbar_ij², the proxy loss of Ŵ = 0 before
// division. It sums row by row in the same order as ProxyLoss, so that
// L(0) = 1 exactly.
func (n *Normalization) ProxyDenominator(hdiag []float64) float64 {
	rows, _ := n.Wbar.Dims()
	partial := make([]float64, rows)
	kernel.For(rows, 0, func(i int) {
		partial[i] = proxyDenRow(n.Wbar.RawRowView(i), hdiag)
	})
	return sumInOrder(partial)
}

// proxyDenRow is one row's term of ProxyDenominator, Σ_j h_j·(−wbar_j)².
func proxyDenRow(wbar, hdiag []float64) float64 {
	hdiag = hdiag[:len(wbar)]
	s := 0.0
	for j, v := range wbar {
		d := -v
		s += float64(hdiag[j] * d * d)
	}
	return s
}

// proxyNumRow is one row's numerator of the proxy loss,
// Σ_j h_j·(what_j/(r·C_j) − wbar_j)².
func proxyNumRow(what, wbar, C, hdiag []float64, r float64) float64 {
	what, C, hdiag = what[:len(wbar)], C[:len(wbar)], hdiag[:len(wbar)]
	s := 0.0
	for j, v := range wbar {
		d := what[j]/(r*C[j]) - v
		s += float64(hdiag[j] * d * d)
	}
	return s
}

// sumInOrder adds the per-row partial sums in row order: the reduction
// order that makes the losses independent of the number of threads.
func sumInOrder(partial []float64) float64 {
	s := 0.0
	for _, p := range partial {
		s += p
	}
	return s
}

// ProxyLossNormalized is the proxy loss of a candidate already in normalized
// space: Σ_ij hdiag_j (Wn_ij − Wbar_ij)² / Σ_ij hdiag_j Wbar_ij². Like
// ProxyLoss it sums each row, then the rows in order.
func (n *Normalization) ProxyLossNormalized(hdiag []float64, Wn mat.Matrix) float64 {
	rows, cols := n.Wbar.Dims()
	w := rawOf(Wn)
	num, den := make([]float64, rows), make([]float64, rows)
	kernel.For(rows, 0, func(i int) {
		wbar := n.Wbar.RawRowView(i)
		src := w.Data[i*w.Stride : i*w.Stride+cols]
		s := 0.0
		for j, v := range wbar {
			d := src[j] - v
			s += float64(hdiag[j] * d * d)
		}
		num[i], den[i] = s, proxyDenRow(wbar, hdiag)
	})
	return sumInOrder(num) / sumInOrder(den)
}

// ProxyLoss is the NoWag proxy loss L(Ŵ) of ALGORITHMS.md: Ŵ is mapped into
// normalized space with W's own R and C, and its importance-weighted squared
// error to Wbar is divided by that of the all-zero weight. L(W) = 0, L(0) = 1.
func (n *Normalization) ProxyLoss(hdiag []float64, What mat.Matrix) float64 {
	rows, cols := n.Wbar.Dims()
	w := rawOf(What)
	// Numerator and denominator in one pass over Wbar, each summed per row
	// and then over the rows in order.
	num, den := make([]float64, rows), make([]float64, rows)
	kernel.For(rows, 0, func(i int) {
		wbar := n.Wbar.RawRowView(i)
		num[i] = proxyNumRow(w.Data[i*w.Stride:i*w.Stride+cols], wbar, n.C, hdiag, n.R[i])
		den[i] = proxyDenRow(wbar, hdiag)
	})
	return sumInOrder(num) / sumInOrder(den)
}

// ProxyLoss computes L(Ŵ) for weight W and Hessian diagonal hdiag in one call.
func ProxyLoss(W, What mat.Matrix, hdiag []float64) (float64, error) {
	if err := sameDims("Ŵ", W, What); err != nil {
		return 0, err
	}
	if _, c := W.Dims(); c != len(hdiag) {
		return 0, fmt.Errorf("hessian_diag has %d entries, want d_in=%d", len(hdiag), c)
	}
	return Normalize(W).ProxyLoss(hdiag, What), nil
}

// OutputError is the relative output error E(Ŵ) = ‖X Wᵀ − X Ŵᵀ‖²_F / ‖X Wᵀ‖²_F
// on activations X (n × d_in).
func OutputError(X, W, What mat.Matrix) (float64, error) {
	if err := sameDims("Ŵ", W, What); err != nil {
		return 0, err
	}
	_, c := W.Dims()
	if _, xc := X.Dims(); xc != c {
		return 0, fmt.Errorf("X has %d columns, want d_in=%d", xc, c)
	}
	var D mat.Dense
	D.Sub(W, What)
	var Y, E mat.Dense
	Y.Mul(X, W.T())
	E.Mul(X, D.T())
	den := mat.Norm(&Y, 2)
	return sq(mat.Norm(&E, 2)) / sq(den), nil
}

// OutputErrorFromHessian is E(Ŵ) computed from H ∝ XᵀX instead of X, using
// ‖X Δᵀ‖²_F = tr(Δ XᵀX Δᵀ); any positive scale of H cancels.
func OutputErrorFromHessian(H mat.Symmetric, W, What mat.Matrix) (float64, error) {
	if err := sameDims("Ŵ", W, What); err != nil {
		return 0, err
	}
	rows, c := W.Dims()
	if rows == 0 || c == 0 {
		return 0, fmt.Errorf("W is empty (%d×%d)", rows, c)
	}
	if H.SymmetricDim() != c {
		return 0, fmt.Errorf("H is %d×%d, want d_in=%d", H.SymmetricDim(), H.SymmetricDim(), c)
	}
	// H's upper triangle, row-major; the matrix's own storage when possible.
	var h blas64.Symmetric
	if s, ok := H.(*mat.SymDense); ok && s.RawSymmetric().Uplo == blas.Upper {
		h = s.RawSymmetric()
	} else {
		h = blas64.Symmetric{Uplo: blas.Upper, N: c, Stride: c, Data: make([]float64, c*c)}
		copySymUpper(h.Data, H)
	}
	w := rawDense(W)
	what := rawDense(What)
	// Δ = W − Ŵ, row by row in parallel.
	d := blas64.General{Rows: rows, Cols: c, Stride: c, Data: make([]float64, rows*c)}
	kernel.For(rows, 0, func(i int) {
		dr := d.Data[i*c : (i+1)*c]
		wr := w.Data[i*w.Stride : i*w.Stride+c]
		for j, v := range what.Data[i*what.Stride : i*what.Stride+c] {
			dr[j] = wr[j] - v
		}
	})
	num, den := quadTrace(h, d, w)
	return num / den, nil
}

// rawDense returns m's storage, copying m first unless it is a *mat.Dense.
func rawDense(m mat.Matrix) blas64.General {
	if d, ok := m.(*mat.Dense); ok {
		return d.RawMatrix()
	}
	return mat.DenseCopyOf(m).RawMatrix()
}

// quadTasks is the number of column panels quadTrace splits its work in.
const quadTasks = 8

// quadTrace returns tr(A·H·Aᵀ) and tr(B·H·Bᵀ) for the symmetric H (upper
// triangle used) and A, B with as many columns as H.
//
// tr(M·H·Mᵀ) = ⟨H, MᵀM⟩ = Σ_j H_jj G_jj + 2·Σ_{j<k} H_jk G_jk with G = MᵀM,
// so only G's upper triangle is needed: half the flops of forming M·H. G is
// computed in column panels of about equal area (columns j0..j1, rows
// 0..j1; see symRankK), one matrix product per panel and matrix, each
// reduced against H at once; panels run in parallel and their partial sums
// are added in panel order, so the results do not depend on the number of
// cores.
func quadTrace(h blas64.Symmetric, a, b blas64.General) (ta, tb float64) {
	bounds := equalAreaPanels(h.N, quadTasks)
	np := len(bounds) - 1
	pa, pb := make([]float64, np), make([]float64, np)
	kernel.For(np, 0, func(p int) {
		j0, j1 := bounds[p], bounds[p+1]
		g := blas64.General{Rows: j1, Cols: j1 - j0, Stride: j1 - j0, Data: make([]float64, j1*(j1-j0))}
		for k, m := range []blas64.General{a, b} {
			// G[:j0, j0:j1] by a product, G[j0:j1, j0:j1]'s upper triangle by
			// a syrk (its strict lower triangle is never read).
			mp := subGeneral(m.Data, m.Stride, 0, j0, m.Rows, j1-j0)
			if j0 > 0 {
				blas64.Gemm(blas.Trans, blas.NoTrans, 1, subGeneral(m.Data, m.Stride, 0, 0, m.Rows, j0), mp, 0,
					blas64.General{Rows: j0, Cols: j1 - j0, Stride: g.Stride, Data: g.Data})
			}
			blas64.Syrk(blas.Trans, 1, mp, 0,
				blas64.Symmetric{Uplo: blas.Upper, N: j1 - j0, Stride: g.Stride, Data: g.Data[j0*g.Stride:]})
			s := 0.0
			for i := 0; i < j1; i++ {
				hr := h.Data[i*h.Stride+j0 : i*h.Stride+j1]
				gr := g.Data[i*g.Stride : i*g.Stride+j1-j0]
				if i < j0 {
					// Entirely above the diagonal: weight 2.
					r := 0.0
					for c, v := range hr {
						r += v * gr[c]
					}
					s += 2 * r
					continue
				}
				// Row i of the diagonal block: H_ii once, H_ik (k > i) twice.
				r := 0.0
				for c := i - j0 + 1; c < len(hr); c++ {
					r += hr[c] * gr[c]
				}
				s += hr[i-j0]*gr[i-j0] + 2*r
			}
			if k == 0 {
				pa[p] = s
			} else {
				pb[p] = s
			}
		}
	})
	for p := range pa {
		ta += pa[p]
		tb += pb[p]
	}
	return ta, tb
}

func sameDims(what string, W, What mat.Matrix) error {
	r, c := W.Dims()
	r2, c2 := What.Dims()
	if r != r2 || c != c2 {
		return fmt.Errorf("%s is %d×%d, want %d×%d like W", what, r2, c2, r, c)
	}
	return nil
}

func sq(x float64) float64 { return x * x }
