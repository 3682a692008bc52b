package methods

import (
	"fmt"

	"github.com/prunebench/armor/internal/kernel"
)

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
	if err := l.checkShapes(n.Pattern); err != nil {
		return nil, err
	}
	return maskOnly(n.Name(), n.Pattern, l, scoreNoWag, nil)
}

// nowagScores writes one row's NoWag scores W̄_ij²·hdiag_j.
func nowagScores(wbar, hdiag, score []float64) {
	hdiag, score = hdiag[:len(wbar)], score[:len(wbar)]
	for j, v := range wbar {
		score[j] = v * v * hdiag[j]
	}
}

// NoWagMask is NoWag-P's mask: the N largest W̄_ij²·hdiag_j per group of M.
func NoWagMask(norm *Normalization, hdiag []float64, p Pattern) (*Mask, error) {
	if norm == nil || norm.Wbar == nil {
		return nil, fmt.Errorf("NoWag mask: no normalization")
	}
	rows, cols := norm.Wbar.Dims()
	if err := p.Check(cols); err != nil {
		return nil, fmt.Errorf("NoWag mask: %w", err)
	}
	if len(hdiag) != cols {
		return nil, fmt.Errorf("NoWag mask: hessian_diag has %d entries, want d_in=%d", len(hdiag), cols)
	}
	m := NewMask(rows, cols)
	// Scores are made and used one row at a time, in a row of scratch per
	// task, instead of as a d_out × d_in matrix.
	kernel.For(numChunks(rows, rowChunk), 0, func(c int) {
		s, idx := make([]float64, cols), make([]int, p.M)
		for i := c * rowChunk; i < min((c+1)*rowChunk, rows); i++ {
			nowagScores(norm.Wbar.RawRowView(i), hdiag, s)
			selectRow(s, m.Keep[i*cols:(i+1)*cols], p, idx)
		}
	})
	return m, nil
}
