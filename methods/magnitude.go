package methods

// Magnitude is the classic baseline: in every group of M input columns of a
// row, keep the N entries with the largest |W_ij|; values are unchanged.
type Magnitude struct {
	Pattern Pattern
}

// Name returns "magnitude".
func (m *Magnitude) Name() string { return "magnitude" }

// Prune keeps the N largest |W_ij| per group.
func (m *Magnitude) Prune(l *Layer) (*Result, error) {
	if err := l.checkShapes(m.Pattern); err != nil {
		return nil, err
	}
	return maskOnly(m.Name(), m.Pattern, l, scoreMagnitude, nil)
}
