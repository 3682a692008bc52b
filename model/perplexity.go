package model

import (
	"fmt"
	"math"
)

// PerplexityResult summarises a windowed perplexity evaluation.
type PerplexityResult struct {
	// Perplexity is exp(TotalNLL / PredictedTokens).
	Perplexity float64
	// TotalNLL is Σ −ln p(token | previous tokens of its window), in nats.
	TotalNLL float64
	// Tokens is the number of stream tokens inside the evaluated windows
	// (Windows × window length).
	Tokens int
	// Windows is the number of windows evaluated.
	Windows int
	// PredictedTokens is the number of scored tokens, Windows × (L − 1).
	PredictedTokens int
}

// maxLogitValues bounds the logits materialised at once by Perplexity.
const maxLogitValues = 1 << 24

// Perplexity evaluates the model on stream cut into non-overlapping windows
// of L tokens from the start (the remainder is dropped; at most maxWindows
// windows if maxWindows > 0). Each window is run on its own from position 0
// and tokens 2..L are scored given the earlier tokens of the window:
//
//	NLL = Σ_windows Σ_{t=1}^{L−1} [logsumexp(z_{t−1}) − z_{t−1}[x_t]],
//	PPL = exp(NLL / (Windows·(L−1))),
//
// with all sums in float64. Several windows go through each Forward call.
func (m *Model) Perplexity(stream []int, L, maxWindows int) (PerplexityResult, error) {
	return m.PerplexityProgress(stream, L, maxWindows, nil)
}

// PerplexityWindows is the number of windows Perplexity scores on a stream
// of n tokens (0 when L is out of range).
func (m *Model) PerplexityWindows(n, L, maxWindows int) int {
	if m == nil || L < 2 || L > m.cfg.SeqLen {
		return 0
	}
	nw := n / L
	if maxWindows > 0 && nw > maxWindows {
		nw = maxWindows
	}
	return nw
}

// PerplexityProgress is Perplexity that calls progress (when not nil) with
// the windows scored so far and their total after each batch of windows.
// The result does not depend on it.
func (m *Model) PerplexityProgress(stream []int, L, maxWindows int, progress func(done, total int)) (PerplexityResult, error) {
	var res PerplexityResult
	if m == nil {
		return res, errNilModel
	}
	if L < 2 || L > m.cfg.SeqLen {
		return res, fmt.Errorf("perplexity: window length %d outside [2, %d]", L, m.cfg.SeqLen)
	}
	nw := m.PerplexityWindows(len(stream), L, maxWindows)
	if nw == 0 {
		return res, fmt.Errorf("perplexity: stream of %d tokens is shorter than one window of %d", len(stream), L)
	}
	per := max(1, maxLogitValues/(L*m.cfg.VocabSize))
	for w0 := 0; w0 < nw; w0 += per {
		w1 := min(nw, w0+per)
		batch := make([][]int, 0, w1-w0)
		for w := w0; w < w1; w++ {
			batch = append(batch, stream[w*L:(w+1)*L])
		}
		logits, err := m.Forward(batch)
		if err != nil {
			return res, fmt.Errorf("perplexity: windows %d..%d: %w", w0, w1-1, err)
		}
		for b, win := range batch {
			for t := 1; t < L; t++ {
				z := logits.Row(b, t-1)
				res.TotalNLL += logSumExp(z) - float64(z[win[t]])
			}
		}
		if progress != nil {
			progress(w1, nw)
		}
	}
	res.Windows = nw
	res.Tokens = nw * L
	res.PredictedTokens = nw * (L - 1)
	res.Perplexity = math.Exp(res.TotalNLL / float64(res.PredictedTokens))
	return res, nil
}

// TokenNLL returns −ln softmax(logits)[target], computed in float64.
func TokenNLL(logits []float32, target int) (float64, error) {
	if target < 0 || target >= len(logits) {
		return 0, fmt.Errorf("token nll: target %d outside [0, %d)", target, len(logits))
	}
	return logSumExp(logits) - float64(logits[target]), nil
}
