package methods

import "math"

// Wanda (Sun et al., 2023) scores each weight by s_ij = |W_ij|·sqrt(wnorm_j)
// with wnorm_j = (1/n) Σ_t x_{t,j}², and in every group of M input columns
// prunes the M−N smallest scores. Kept values are unchanged.
//
// The public implementation ranks float32 scores; this one ranks in float64,
// which gives the same mask on the reference fixtures.
type Wanda struct {
	Pattern Pattern
}

// Name returns "wanda".
func (w *Wanda) Name() string { return "wanda" }

// Prune keeps the N largest Wanda scores per group.
func (w *Wanda) Prune(l *Layer) (*Result, error) {
	if err := l.checkShapes(w.Pattern); err != nil {
		return nil, err
	}
	_, cols := l.W.Dims()
	norm := l.Stats.WandaNorm
	if len(norm) != cols {
		norm = make([]float64, cols)
		for j, h := range l.Stats.Hdiag {
			norm[j] = h / 2
		}
	}
	scale := make([]float64, cols)
	for j, v := range norm {
		scale[j] = math.Sqrt(math.Max(v, 0))
	}
	return maskOnly(w.Name(), w.Pattern, l, scoreWanda, scale)
}
