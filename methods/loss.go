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
	_, c := W.Dims()
	if H.SymmetricDim() != c {
		return 0, fmt.Errorf("H is %d×%d, want d_in=%d", H.SymmetricDim(), H.SymmetricDim(), c)
	}
	var D mat.Dense
	D.Sub(W, What)
	Hd := mat.DenseCopyOf(H)
	return quadTrace(Hd, &D) / quadTrace(Hd, mat.DenseCopyOf(W)), nil
}

// quadTrace returns tr(M·H·Mᵀ) = Σ_ij (M·H)_ij·M_ij, computed in fixed
// chunks of 64 rows in parallel (one BLAS product each) and summed in chunk
// order, so the result does not depend on the number of cores.
func quadTrace(H, M *mat.Dense) float64 {
	rows, cols := M.Dims()
	const chunk = 64
	n := (rows + chunk - 1) / chunk
	partial := make([]float64, n)
	m, h := M.RawMatrix(), H.RawMatrix()
	parallelFor(n, 0, func(c int) {
		r0, r1 := c*chunk, min((c+1)*chunk, rows)
		out := blas64.General{Rows: r1 - r0, Cols: cols, Stride: cols, Data: make([]float64, (r1-r0)*cols)}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas64.General{Rows: r1 - r0, Cols: cols, Stride: m.Stride, Data: m.Data[r0*m.Stride:]}, h, 0, out)
		s := 0.0
		for r := r0; r < r1; r++ {
			mr := m.Data[r*m.Stride : r*m.Stride+cols]
			for j, v := range out.Data[(r-r0)*cols : (r-r0+1)*cols] {
				s += v * mr[j]
			}
		}
		partial[c] = s
	})
	t := 0.0
	for _, p := range partial {
		t += p
	}
	return t
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
