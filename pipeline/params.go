package pipeline

import "github.com/prunebench/armor/model"

// ParamCount counts stored parameters (numbers, not bytes; the N:M index
// metadata — 2 bits per kept weight for 2:4 — is not counted).
//
//	Dense        = embedding + classifier (if untied) + norms + Σ d_out·d_in
//	Stored       = Dense − Σ d_out·d_in + Σ (kept_l + wrapper_l)
//	Linear       = Σ d_out·d_in over the pruned layers
//	LinearStored = Σ (kept_l + wrapper_l)
//
// with kept_l the non-zeros of layer l's N:M weight (or ARMOR core) and
// wrapper_l the entries of ARMOR's diagonal blocks of A and B
// (≈ b·(d_in + d_out)). A dense model has Stored = Dense.
type ParamCount struct {
	Dense        int `json:"dense"`
	Stored       int `json:"stored"`
	Linear       int `json:"linear"`
	LinearStored int `json:"linear_stored"`
	Wrapper      int `json:"wrapper"`
}

// Relative is Stored/Dense, the parameters stored relative to the dense
// model.
func (p ParamCount) Relative() float64 { return float64(p.Stored) / float64(p.Dense) }

// LinearRelative is LinearStored/Linear, relative to the dense linear layers.
func (p ParamCount) LinearRelative() float64 {
	return float64(p.LinearStored) / float64(p.Linear)
}

// WrapperOverhead is Wrapper/Linear, ARMOR's wrappers relative to the dense
// linear layers (Σ b·(d_in+d_out) / Σ d_in·d_out).
func (p ParamCount) WrapperOverhead() float64 { return float64(p.Wrapper) / float64(p.Linear) }

// CountParams counts the parameters of a model with weights w whose layers
// in reports were pruned (an empty reports slice counts the dense model).
func CountParams(cfg model.Config, w *model.Weights, reports []LayerReport) ParamCount {
	var p ParamCount
	p.Dense = cfg.VocabSize * cfg.Dim
	if !w.Tied() {
		p.Dense += cfg.VocabSize * cfg.Dim
	}
	p.Dense += cfg.Dim * (2*cfg.NLayers + 1)
	for _, name := range w.LinearNames() {
		l, _ := w.Linear(name)
		p.Dense += l.Out * l.In
	}
	p.Stored = p.Dense
	for _, r := range reports {
		p.Linear += r.DOut * r.DIn
		p.LinearStored += r.Kept + r.Wrapper
		p.Wrapper += r.Wrapper
		p.Stored += r.Kept + r.Wrapper - r.DOut*r.DIn
	}
	return p
}
