package methods

// NoWagP is the pruning variant of NoWag (Liu et al., 2025), also ARMOR's
// starting point:
//  1. normalize W = diag(r)·W̄·diag(c) (see Normalize: columns first, each
//     norm + 1e-5);
//  2. score s_ij = W̄_ij²·hdiag_j and keep the N largest per group of M;
//  3. no value update: Ŵ = W⊙M.
type NoWagP struct {
	Pattern Pattern
}

// Name returns "nowag".
func (n *NoWagP) Name() string { return "nowag" }

// Prune keeps the N largest NoWag scores per group.
func (n *NoWagP) Prune(l *Layer) (*Result, error) {
	if err := l.Check(n.Pattern); err != nil {
		return nil, err
	}
	norm := Normalize(l.W)
	m, err := NoWagMask(norm, l.Stats.Hdiag, n.Pattern)
	if err != nil {
		return nil, err
	}
	res := &Result{Method: n.Name(), Pattern: n.Pattern, Mask: m, What: applyMask(l.W, m)}
	return finish(l, norm, res)
}

// NoWagMask is NoWag-P's mask: the N largest W̄_ij²·hdiag_j per group of M.
func NoWagMask(norm *Normalization, hdiag []float64, p Pattern) (*Mask, error) {
	rows, cols := norm.Wbar.Dims()
	data := norm.Wbar.RawMatrix().Data
	score := make([]float64, len(data))
	for k, v := range data {
		score[k] = v * v * hdiag[k%cols]
	}
	return TopNMask(score, rows, cols, p)
}
