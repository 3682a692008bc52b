package model

import (
	"fmt"
	"math"
)

// ropeTable returns cos and sin of the RoPE angles for positions
// start..start+n−1: entry [p*half+i] holds angle (start+p)·θ^(−2i/headDim),
// i < half = headDim/2. Angles are computed in float64.
func ropeTable(start, n, headDim int, theta float64) (cos, sin []float64) {
	return ropeTableScaled(start, n, headDim, theta, nil)
}

// ropeTableScaled is ropeTable with the frequencies adjusted by scaling
// (nil: none; see RopeScaling.Frequency).
func ropeTableScaled(start, n, headDim int, theta float64, scaling *RopeScaling) (cos, sin []float64) {
	half := headDim / 2
	cos = make([]float64, n*half)
	sin = make([]float64, n*half)
	for i := 0; i < half; i++ {
		freq := math.Pow(theta, -float64(2*i)/float64(headDim))
		if scaling != nil {
			freq = scaling.Frequency(freq)
		}
		for p := 0; p < n; p++ {
			s, c := math.Sincos(float64(start+p) * freq)
			cos[p*half+i], sin[p*half+i] = c, s
		}
	}
	return cos, sin
}

// RopeScaling is Llama 3.1's RoPE frequency scaling (Hugging Face
// rope_scaling with rope_type "llama3"): with wavelength λ = 2π/f of a
// frequency f and L = OriginalMaxPosition,
//
//	λ < L/HighFreqFactor: f unchanged
//	λ > L/LowFreqFactor:  f/Factor
//	otherwise:            (1−s)·f/Factor + s·f,  s = (L/λ − LowFreqFactor)/(HighFreqFactor − LowFreqFactor)
type RopeScaling struct {
	Factor              float64
	LowFreqFactor       float64
	HighFreqFactor      float64
	OriginalMaxPosition int
}

// Validate checks that the factors are positive and finite, HighFreqFactor
// exceeds LowFreqFactor and OriginalMaxPosition is positive.
func (r *RopeScaling) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"factor", r.Factor}, {"low_freq_factor", r.LowFreqFactor}, {"high_freq_factor", r.HighFreqFactor}} {
		if !(f.v > 0) || math.IsInf(f.v, 0) {
			return fmt.Errorf("rope_scaling: %s must be positive and finite, got %v", f.name, f.v)
		}
	}
	if !(r.HighFreqFactor > r.LowFreqFactor) {
		return fmt.Errorf("rope_scaling: high_freq_factor %v must exceed low_freq_factor %v", r.HighFreqFactor, r.LowFreqFactor)
	}
	if r.OriginalMaxPosition <= 0 {
		return fmt.Errorf("rope_scaling: original_max_position_embeddings must be positive, got %d", r.OriginalMaxPosition)
	}
	return nil
}

// Frequency returns the scaled frequency of an unscaled one.
func (r *RopeScaling) Frequency(f float64) float64 {
	L := float64(r.OriginalMaxPosition)
	wavelen := 2 * math.Pi / f
	switch {
	case wavelen < L/r.HighFreqFactor:
		return f
	case wavelen > L/r.LowFreqFactor:
		return f / r.Factor
	}
	s := (L/wavelen - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
	return (1-s)*f/r.Factor + s*f
}

// applyRoPE rotates, in place, every head of every row of x (n rows of
// nHeads·headDim values; row p is at position start+p, cos/sin from
// ropeTable). Pair i of a head, (a, b), becomes
// (a·cos − b·sin, a·sin + b·cos), where the pair is (2i, 2i+1) when
// interleaved and (i, i+headDim/2) otherwise.
func applyRoPE(x []float32, n, nHeads, headDim int, cos, sin []float64, interleaved bool) {
	half := headDim / 2
	width := nHeads * headDim
	for p := 0; p < n; p++ {
		cp, sp := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
		for h := 0; h < nHeads; h++ {
			v := x[p*width+h*headDim : p*width+(h+1)*headDim]
			for i := 0; i < half; i++ {
				ia, ib := i, i+half
				if interleaved {
					ia, ib = 2*i, 2*i+1
				}
				a, b := float64(v[ia]), float64(v[ib])
				v[ia] = float32(a*cp[i] - b*sp[i])
				v[ib] = float32(a*sp[i] + b*cp[i])
			}
		}
	}
}

// PermuteForHalves reorders the output rows of a query or key projection
// from the interleaved RoPE layout to the halves layout (the permutation of
// Hugging Face's Llama converter): within each of the nHeads heads of size
// headDim, old row 2i moves to row i and old row 2i+1 to row i+headDim/2.
// Because q·k is unchanged when q and k are permuted alike, a model with
// RopeInterleaved=true and a model with RopeInterleaved=false whose Wq and Wk
// were permuted this way compute the same function. For Wk pass the number of
// key/value heads. The input is not modified.
func PermuteForHalves(w *Linear, nHeads, headDim int) (*Linear, error) {
	return permuteHeads(w, nHeads, headDim, true)
}

// PermuteForInterleaved is the inverse of PermuteForHalves: within each head,
// row i moves to row 2i and row i+headDim/2 to row 2i+1.
func PermuteForInterleaved(w *Linear, nHeads, headDim int) (*Linear, error) {
	return permuteHeads(w, nHeads, headDim, false)
}

func permuteHeads(w *Linear, nHeads, headDim int, toHalves bool) (*Linear, error) {
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("rope permutation: %w", err)
	}
	if nHeads <= 0 || headDim <= 0 || headDim%2 != 0 {
		return nil, fmt.Errorf("rope permutation: need positive heads and an even head size, got %d heads of %d", nHeads, headDim)
	}
	if nHeads*headDim != w.Out {
		return nil, fmt.Errorf("rope permutation: %d heads × %d = %d rows, but the layer has %d", nHeads, headDim, nHeads*headDim, w.Out)
	}
	out := &Linear{Out: w.Out, In: w.In, W: make([]float32, w.Out*w.In)}
	src32 := w.Float32s()
	if w.Bias != nil {
		out.Bias = make([]float32, w.Out)
	}
	half := headDim / 2
	for h := 0; h < nHeads; h++ {
		base := h * headDim
		for i := 0; i < half; i++ {
			for j := 0; j < 2; j++ {
				inter := base + 2*i + j     // row in the interleaved layout
				halves := base + j*half + i // row in the halves layout
				src, dst := inter, halves
				if !toHalves {
					src, dst = halves, inter
				}
				copy(out.W[dst*w.In:(dst+1)*w.In], src32[src*w.In:(src+1)*w.In])
				if w.Bias != nil {
					out.Bias[dst] = w.Bias[src]
				}
			}
		}
	}
	return out, nil
}

// ConvertRopeLayout returns a copy of (cfg, w) using the requested RoPE
// layout: if it differs from cfg.RopeInterleaved, every Wq and Wk is
// permuted (PermuteForHalves or PermuteForInterleaved) so that the converted
// model computes the same logits. Other tensors are shared with w.
func ConvertRopeLayout(cfg Config, w *Weights, interleaved bool) (Config, *Weights, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	if err := w.Validate(cfg); err != nil {
		return cfg, nil, err
	}
	nw := *w
	nw.Layers = append([]Layer(nil), w.Layers...)
	if cfg.RopeInterleaved == interleaved {
		return cfg, &nw, nil
	}
	perm := PermuteForHalves
	if interleaved {
		perm = PermuteForInterleaved
	}
	hd := cfg.HeadDim()
	for i := range nw.Layers {
		q, err := perm(nw.Layers[i].Wq, cfg.NHeads, hd)
		if err != nil {
			return cfg, nil, fmt.Errorf("%s: %w", LinearName(i, ProjQ), err)
		}
		k, err := perm(nw.Layers[i].Wk, cfg.NKVHeads, hd)
		if err != nil {
			return cfg, nil, fmt.Errorf("%s: %w", LinearName(i, ProjK), err)
		}
		nw.Layers[i].Wq, nw.Layers[i].Wk = q, k
	}
	cfg.RopeInterleaved = interleaved
	return cfg, &nw, nil
}
