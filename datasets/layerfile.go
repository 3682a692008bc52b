package datasets

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// LayerFile is one linear layer stored as safetensors: the weight `W`
// (d_out × d_in) and its calibration data — activations `X` (n × d_in), or
// when X is absent the Hessian diagonal `hessian_diag` (d_in) and optionally
// the full `H` (d_in × d_in).
type LayerFile struct {
	Path  string
	W     *mat.Dense
	X     *mat.Dense    // nil when absent
	Hdiag []float64     // nil when absent
	H     *mat.SymDense // nil when absent
}

// ReadLayerFile reads and validates a layer file. Every error names the file
// and the tensor and says what was expected.
func ReadLayerFile(path string) (*LayerFile, error) {
	f, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	lf := &LayerFile{Path: path}
	if !f.Has("W") {
		return nil, fmt.Errorf("%s: no tensor \"W\" (the d_out × d_in weight); tensors present: %v", path, f.Names())
	}
	if lf.W, err = f.Matrix("W"); err != nil {
		return nil, err
	}
	_, dIn := lf.W.Dims()
	if f.Has("X") {
		if lf.X, err = f.Matrix("X"); err != nil {
			return nil, err
		}
		if _, c := lf.X.Dims(); c != dIn {
			return nil, fmt.Errorf("%s: tensor \"X\" has %d columns, want d_in=%d (W's columns)", path, c, dIn)
		}
	}
	if f.Has("hessian_diag") {
		if lf.Hdiag, err = f.Vector("hessian_diag"); err != nil {
			return nil, err
		}
		if len(lf.Hdiag) != dIn {
			return nil, fmt.Errorf("%s: tensor \"hessian_diag\" has %d entries, want d_in=%d", path, len(lf.Hdiag), dIn)
		}
	}
	if f.Has("H") {
		h, err := f.Matrix("H")
		if err != nil {
			return nil, err
		}
		if r, c := h.Dims(); r != dIn || c != dIn {
			return nil, fmt.Errorf("%s: tensor \"H\" is %d×%d, want %d×%d", path, r, c, dIn, dIn)
		}
		lf.H = mat.NewSymDense(dIn, nil)
		for i := 0; i < dIn; i++ {
			for j := i; j < dIn; j++ {
				lf.H.SetSym(i, j, 0.5*(h.At(i, j)+h.At(j, i)))
			}
		}
	}
	if lf.X == nil && lf.Hdiag == nil && lf.H == nil {
		return nil, fmt.Errorf("%s: no calibration data: want tensor \"X\" (n × d_in activations), or \"hessian_diag\" (and \"H\" for sparsegpt)", path)
	}
	return lf, nil
}
