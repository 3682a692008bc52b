package methods

import "errors"

// TakeStats is Stats for an accumulator that is not used again: the full
// H is scaled in place in the accumulator's own Gram storage instead of a
// copy, so a layer's H costs one d_in × d_in matrix instead of two at the
// moment the statistics are formed. The values are bitwise those of Stats.
// The accumulator must not be used afterwards.
func (a *Accumulator) TakeStats() (*Stats, error) {
	if a.gram == nil {
		return a.Stats()
	}
	if a.n == 0 {
		return nil, errors.New("no calibration activations were added")
	}
	g := a.gram
	a.gram = nil
	s, err := a.Stats()
	if err != nil {
		return nil, err
	}
	h := g.RawSymmetric()
	d, f := a.dIn, 2/float64(a.n)
	parallelFor((d+copyChunk-1)/copyChunk, 0, func(c int) {
		for i := c * copyChunk; i < min((c+1)*copyChunk, d); i++ {
			row := h.Data[i*h.Stride+i : i*h.Stride+d]
			for j, v := range row {
				row[j] = f * v
			}
		}
	})
	s.H = g
	return s, nil
}
