package methods

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/prunebench/armor/internal/kernel"
)

// Group selection: which groups of each tile the sparse-core step updates.

// wantsSelWeights says whether cfg's selection reads group weights, which
// refreshGrad then computes on the fly (tileSet.selWeights).
func wantsSelWeights(cfg ARMORConfig) bool {
	return cfg.GroupsPerTile != 0 && cfg.Select != SelectRandom
}

// newARMORRand is the generator of a run's group selection.
func newARMORRand(cfg ARMORConfig) *rand.Rand {
	return rand.New(rand.NewPCG(cfg.Seed, 0x41524d4f52))
}

// selectGroups picks the groups of every tile by cfg's rule: one (the
// paper), k distinct ones, or all of them (GroupsPerTile). Random draws are
// made in tile order on one generator before any parallel work, so the choice
// does not depend on the number of threads. The gradient and greedy rules
// read ∂L/∂S (ts.GS), which must be current.
func selectGroups[T float](ts *tileSet[T], cfg ARMORConfig, rng *rand.Rand) []Group {
	M := ts.p.M
	nr, nc := len(ts.la.sizes), len(ts.lb.sizes)
	perTile := make([]int, nr*nc) // groups per tile
	drawOff := make([]int, nr*nc+1)
	for t := range perTile {
		i, j := t/nc, t%nc
		n := ts.la.sizes[i] * (ts.lb.sizes[j] / M)
		k := cfg.GroupsPerTile
		if k <= 0 || k > n {
			k = n
		}
		perTile[t] = k
		drawOff[t+1] = drawOff[t] + k
	}
	all := cfg.GroupsPerTile == 0
	var draws []float64
	if !all && cfg.Select != SelectGreedy {
		draws = make([]float64, drawOff[len(perTile)])
		for k := range draws {
			draws[k] = rng.Float64()
		}
	}
	// Group weights for the gradient and greedy rules: the L1 norm of ∂L/∂S
	// over each group, from refreshGrad's pass when it computed them for
	// the current GS, else in one pass over GS by column blocks.
	var wAll []float64
	gPerRow := ts.dIn / M
	if !all && cfg.Select != SelectRandom {
		if ts.wSelValid && ts.gradValid {
			wAll = ts.wSel
		} else {
			wAll = ts.groupWeights()
			ts.colBlocks(func(r0, rs, j int) {
				ts.groupWeightsCols(wAll, r0, rs, ts.lb.starts[j], ts.lb.sizes[j])
			})
		}
	}
	groups := make([]Group, drawOff[len(perTile)])
	// Per-goroutine scratch: weights, the taken flags and the picks.
	type pickScratch struct {
		w     []float64
		taken []bool
		picks []int
	}
	maxN := slices.Max(ts.la.sizes) * (slices.Max(ts.lb.sizes) / M)
	scratch := make([]*pickScratch, kernel.Workers(nr*nc, ts.threads))
	kernel.ForWorker(nr*nc, ts.threads, func(wk, t int) {
		i, j := t/nc, t%nc
		r0, rs := ts.la.starts[i], ts.la.sizes[i]
		c0, cs := ts.lb.starts[j], ts.lb.sizes[j]
		perRow := cs / M
		n := rs * perRow
		out := groups[drawOff[t]:drawOff[t+1]]
		at := func(k int) Group { return Group{Row: r0 + k/perRow, Col: c0 + (k%perRow)*M} }
		if all {
			for k := range out {
				out[k] = at(k)
			}
			return
		}
		sc := scratch[wk]
		if sc == nil {
			sc = &pickScratch{w: make([]float64, maxN), taken: make([]bool, maxN), picks: make([]int, 0, maxN)}
			scratch[wk] = sc
		}
		var w []float64
		if wAll != nil {
			w = sc.w[:n]
			for u := 0; u < rs; u++ {
				copy(w[u*perRow:(u+1)*perRow], wAll[(r0+u)*gPerRow+c0/M:])
			}
		}
		var u []float64
		if draws != nil {
			u = draws[drawOff[t]:drawOff[t+1]]
		}
		sc.picks = pickGroups(cfg.Select, w, u, n, len(out), sc.taken, sc.picks)
		for q, k := range sc.picks {
			out[q] = at(k)
		}
	})
	return groups
}

// pickGroups chooses k distinct indices out of n: the k largest weights
// (greedy; first index on ties), or k draws without replacement, uniformly
// (random) or with probability ∝ weight (gradient; uniform when every
// remaining weight is zero), using the uniforms u.
//
// taken is scratch of at least n entries, all false on entry and on return;
// the picks are appended to out[:0].
func pickGroups(sel Selection, w, u []float64, n, k int, taken []bool, out []int) []int {
	out = out[:0]
	taken = taken[:n]
	defer func() {
		for _, x := range out {
			taken[x] = false
		}
	}()
	for q := 0; q < k; q++ {
		pick := -1
		switch sel {
		case SelectGreedy:
			best := -1.0
			for x := 0; x < n; x++ {
				if !taken[x] && w[x] > best {
					pick, best = x, w[x]
				}
			}
		case SelectGradient:
			total := 0.0
			for x := 0; x < n; x++ {
				if !taken[x] {
					total += w[x]
				}
			}
			if total > 0 && !math.IsInf(total, 0) {
				target, acc := u[q]*total, 0.0
				for x := 0; x < n; x++ {
					if taken[x] {
						continue
					}
					acc += w[x]
					pick = x
					if target < acc {
						break
					}
				}
				break
			}
			fallthrough
		default: // uniform among the remaining
			left := n - q
			m := min(int(u[q]*float64(left)), left-1)
			for x := 0; x < n; x++ {
				if taken[x] {
					continue
				}
				if m == 0 {
					pick = x
					break
				}
				m--
			}
		}
		taken[pick] = true
		out = append(out, pick)
	}
	return out
}
