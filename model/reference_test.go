package model

import "math"

// referenceForward is an independent, deliberately naive float64
// implementation of one sequence's forward pass, position by position with
// explicit loops, used to check Forward.
func referenceForward(cfg Config, w *Weights, toks []int) [][]float64 {
	d, hd := cfg.Dim, cfg.HeadDim()
	matvec := func(l *Linear, x []float64) []float64 {
		y := make([]float64, l.Out)
		for o := 0; o < l.Out; o++ {
			for i := 0; i < l.In; i++ {
				y[o] += float64(l.W[o*l.In+i]) * x[i]
			}
		}
		return y
	}
	rms := func(x []float64, g []float32) []float64 {
		ss := 0.0
		for _, v := range x {
			ss += v * v
		}
		s := 1 / math.Sqrt(ss/float64(len(x))+cfg.NormEps)
		y := make([]float64, len(x))
		for i := range x {
			y[i] = x[i] * s * float64(g[i])
		}
		return y
	}
	rope := func(v []float64, pos int) {
		for h := 0; h < len(v)/hd; h++ {
			for i := 0; i < hd/2; i++ {
				ang := float64(pos) / math.Pow(cfg.RopeTheta, float64(2*i)/float64(hd))
				a, b := h*hd+i, h*hd+i+hd/2
				if cfg.RopeInterleaved {
					a, b = h*hd+2*i, h*hd+2*i+1
				}
				x, y := v[a], v[b]
				v[a] = x*math.Cos(ang) - y*math.Sin(ang)
				v[b] = x*math.Sin(ang) + y*math.Cos(ang)
			}
		}
	}
	xs := make([][]float64, len(toks))
	for p, tok := range toks {
		xs[p] = make([]float64, d)
		for i := range xs[p] {
			xs[p][i] = float64(w.TokenEmbedding[tok*d+i])
		}
	}
	for _, L := range w.Layers {
		keys := make([][]float64, len(toks))
		vals := make([][]float64, len(toks))
		next := make([][]float64, len(toks))
		for p := range toks {
			n := rms(xs[p], L.AttnNorm)
			q := matvec(L.Wq, n)
			keys[p] = matvec(L.Wk, n)
			vals[p] = matvec(L.Wv, n)
			rope(q, p)
			rope(keys[p], p)
			att := make([]float64, d)
			for h := 0; h < cfg.NHeads; h++ {
				g := h / (cfg.NHeads / cfg.NKVHeads)
				sc := make([]float64, p+1)
				mx := math.Inf(-1)
				for j := 0; j <= p; j++ {
					for i := 0; i < hd; i++ {
						sc[j] += q[h*hd+i] * keys[j][g*hd+i]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				sum := 0.0
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for i := 0; i < hd; i++ {
						att[h*hd+i] += sc[j] / sum * vals[j][g*hd+i]
					}
				}
			}
			o := matvec(L.Wo, att)
			h := make([]float64, d)
			for i := range h {
				h[i] = xs[p][i] + o[i]
			}
			m := rms(h, L.FFNNorm)
			g, u := matvec(L.W1, m), matvec(L.W3, m)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			dn := matvec(L.W2, g)
			for i := range h {
				h[i] += dn[i]
			}
			next[p] = h
		}
		xs = next
	}
	cls := w.Classifier
	if cls == nil {
		cls = &Linear{Out: cfg.VocabSize, In: d, W: w.TokenEmbedding}
	}
	out := make([][]float64, len(toks))
	for p := range toks {
		out[p] = matvec(cls, rms(xs[p], w.FinalNorm))
	}
	return out
}
