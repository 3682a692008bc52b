package methods

import (
	"fmt"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"math"

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
func Normalize(W mat.Matrix) *Normalization {
	src := mat.DenseCopyOf(W)
	rows, cols := src.Dims()
	n := &Normalization{R: make([]float64, rows), C: make([]float64, cols), Wbar: src}
	data := src.RawMatrix().Data
	// Column sums of squares in one row-major pass.
	for i := 0; i < rows; i++ {
		for j, v := range data[i*cols : (i+1)*cols] {
			n.C[j] += v * v
		}
	}
	for j, s := range n.C {
		n.C[j] = math.Sqrt(s) + normEps
	}
	parallelFor(rows, 0, func(i int) {
		row := data[i*cols : (i+1)*cols]
		s := 0.0
		for j := range row {
			row[j] /= n.C[j]
			s += row[j] * row[j]
		}
		n.R[i] = math.Sqrt(s) + normEps
		for j := range row {
			row[j] /= n.R[i]
		}
	})
	return n
}

// ToNormalized maps a candidate Ŵ into normalized space: diag(R)⁻¹·Ŵ·diag(C)⁻¹.
func (n *Normalization) ToNormalized(What mat.Matrix) *mat.Dense {
	rows, cols := What.Dims()
	out := mat.NewDense(rows, cols, nil)
	for i := 0; i < rows; i++ {
		row := out.RawRowView(i)
		for j := range row {
			row[j] = What.At(i, j) / (n.R[i] * n.C[j])
		}
	}
	return out
}

// FromNormalized maps a normalized-space matrix back: diag(R)·Wn·diag(C).
func (n *Normalization) FromNormalized(Wn mat.Matrix) *mat.Dense {
	rows, cols := Wn.Dims()
	out := mat.NewDense(rows, cols, nil)
	for i := 0; i < rows; i++ {
		row := out.RawRowView(i)
		for j := range row {
			row[j] = Wn.At(i, j) * n.R[i] * n.C[j]
		}
	}
	return out
}

// ProxyDenominator is Σ_ij hdiag_j·Wbar_ij², the proxy loss of Ŵ = 0 before
// division. It sums row by row in the same order as ProxyLoss, so that
// L(0) = 1 exactly.
func (n *Normalization) ProxyDenominator(hdiag []float64) float64 {
	rows, _ := n.Wbar.Dims()
	partial := make([]float64, rows)
	parallelFor(rows, 0, func(i int) {
		s := 0.0
		for j, v := range n.Wbar.RawRowView(i) {
			d := -v
			s += hdiag[j] * d * d
		}
		partial[i] = s
	})
	s := 0.0
	for _, p := range partial {
		s += p
	}
	return s
}

// ProxyLossNormalized is the proxy loss of a candidate already in normalized
// space: Σ_ij hdiag_j (Wn_ij − Wbar_ij)² / Σ_ij hdiag_j Wbar_ij².
func (n *Normalization) ProxyLossNormalized(hdiag []float64, Wn mat.Matrix) float64 {
	rows, _ := n.Wbar.Dims()
	num := 0.0
	for i := 0; i < rows; i++ {
		for j, v := range n.Wbar.RawRowView(i) {
			d := Wn.At(i, j) - v
			num += hdiag[j] * d * d
		}
	}
	return num / n.ProxyDenominator(hdiag)
}

// ProxyLoss is the NoWag proxy loss L(Ŵ) of ALGORITHMS.md: Ŵ is mapped into
// normalized space with W's own R and C, and its importance-weighted squared
// error to Wbar is divided by that of the all-zero weight. L(W) = 0, L(0) = 1.
func (n *Normalization) ProxyLoss(hdiag []float64, What mat.Matrix) float64 {
	rows, cols := n.Wbar.Dims()
	wd := mat.DenseCopyOf(What)
	if d, ok := What.(*mat.Dense); ok {
		wd = d
	}
	wr := wd.RawMatrix()
	partial := make([]float64, rows)
	parallelFor(rows, 0, func(i int) {
		num := 0.0
		ri := n.R[i]
		what := wr.Data[i*wr.Stride : i*wr.Stride+cols]
		for j, v := range n.Wbar.RawRowView(i) {
			d := what[j]/(ri*n.C[j]) - v
			num += hdiag[j] * d * d
		}
		partial[i] = num
	})
	num := 0.0
	for _, p := range partial {
		num += p
	}
	return num / n.ProxyDenominator(hdiag)
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
	parallelFor(rows, 0, func(i int) {
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
	parallelFor(np, 0, func(p int) {
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
