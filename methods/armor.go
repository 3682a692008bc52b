package methods

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// ARMOR (Liu et al., 2025/2026) factorizes the layer in NoWag's normalized
// space as Ŵn = A·(W'⊙M)·B, a N:M sparse core wrapped by block-diagonal A
// (d_out × d_out) and B (d_in × d_in), and lowers the proxy loss by block
// coordinate descent from NoWag-P's solution (A = I, B = I, W' = W̄):
//
//  1. continuous step, mask fixed: one Adam step on A, B and W' jointly
//     (lr 1e-4, β = (0.9, 0.999), ε = 1e-8); pruned entries of W' get zero
//     gradient;
//  2. sparse-core step, A and B fixed: in every tile pick one group — by
//     default sampled with probability ∝ the L1 norm of ∂L/∂S over the group
//     (S the dense current core) — and set its support and values to the exact
//     minimizer over all C(M, N) supports (ARMORState.SparseCoreStep);
//  3. stop when the loss has not improved by rtol·loss + atol for Patience
//     consecutive iterations.
//
// The deployed layer is y = diag(r)·A·S·B·diag(c)·x; the Result carries A and
// B with r and c folded in. The best state seen is returned, so the result is
// never worse than NoWag-P's even for the Adam variant, which Theorem 3.1
// does not cover.
type ARMOR struct {
	Pattern Pattern
	Config  ARMORConfig
}

// Selection is how the sparse-core step picks the group of each tile.
type Selection string

// The group selection rules.
const (
	// SelectGradient samples a group with probability proportional to the L1
	// norm of ∂L/∂S over its M entries (the paper's default).
	SelectGradient Selection = "gradient"
	// SelectGreedy takes the group with the largest such norm (first on ties).
	SelectGreedy Selection = "greedy"
	// SelectRandom samples a group uniformly.
	SelectRandom Selection = "random"
)

// Continuous is how ARMOR's continuous step updates A, B and W' with the
// mask fixed.
type Continuous string

// The continuous update rules.
const (
	// ContinuousAdam is the paper's rule: one joint Adam step on A, B and W'.
	// Theorem 3.1 does not cover it; the run keeps the best state seen.
	ContinuousAdam Continuous = "adam"
	// ContinuousGD takes, block after block (A, then W', then B), one gradient
	// step of length 1/β, β that block's smoothness constant (the largest
	// eigenvalue of its quadratic's Hessian), as Theorem 3.1 assumes.
	ContinuousGD Continuous = "gd"
	// ContinuousExact minimizes the loss exactly over each block in turn
	// (A, then W', then B); each is a least-squares problem.
	ContinuousExact Continuous = "exact"
)

// ARMORConfig holds every knob of ARMOR. The zero value is not usable; start
// from DefaultARMORConfig.
type ARMORConfig struct {
	// BlockSize is b, the size of A's and B's diagonal blocks (a multiple of
	// M; the last block is smaller when a dimension is not a multiple of b).
	// The released code uses 32, the paper 128.
	BlockSize int
	// Iters is the number of block-coordinate-descent iterations (3000 in
	// the released code, 20 000 in the paper).
	Iters int
	// Continuous is the continuous update rule (adam by default).
	Continuous Continuous
	// Adam hyper-parameters of the continuous step.
	LR, Beta1, Beta2, Eps float64
	// Select is the group selection rule of the sparse-core step.
	Select Selection
	// Patience, RTol and ATol define early stopping: stop once the loss has
	// not dropped below best − (RTol·best + ATol) for Patience consecutive
	// iterations. Patience ≤ 0 disables it.
	Patience   int
	RTol, ATol float64
	// Seed drives group selection.
	Seed uint64
	// Threads bounds the goroutines of the tile kernels (≤ 0: all cores).
	// Results do not depend on it.
	Threads int
}

// DefaultARMORConfig returns the released code's defaults: b = 32, 3000
// iterations, Adam(1e-4, 0.9, 0.999, 1e-8), gradient-sampled groups,
// patience 100 with rtol 1e-6 and atol 1e-8, seed 0.
func DefaultARMORConfig() ARMORConfig {
	return ARMORConfig{
		BlockSize: 32, Iters: 3000,
		Continuous: ContinuousAdam,
		LR:         1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		Select:   SelectGradient,
		Patience: 100, RTol: 1e-6, ATol: 1e-8,
	}
}

// Validate reports the first impossible setting.
func (c ARMORConfig) Validate(p Pattern) error {
	switch {
	case c.BlockSize < p.M || c.BlockSize%p.M != 0:
		return fmt.Errorf("armor block size %d must be a positive multiple of M=%d", c.BlockSize, p.M)
	case c.Iters < 0:
		return fmt.Errorf("armor iterations %d must be ≥ 0", c.Iters)
	case !(c.LR >= 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("armor learning rate %g must be ≥ 0", c.LR)
	case !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("armor Adam betas (%g, %g) must lie in [0, 1)", c.Beta1, c.Beta2)
	case !(c.Eps > 0):
		return fmt.Errorf("armor Adam eps %g must be > 0", c.Eps)
	case c.RTol < 0 || c.ATol < 0:
		return fmt.Errorf("armor tolerances rtol %g, atol %g must be ≥ 0", c.RTol, c.ATol)
	case p.N > 8:
		return fmt.Errorf("armor supports N ≤ 8, got pattern %s", p)
	}
	switch c.Continuous {
	case ContinuousAdam, ContinuousGD, ContinuousExact:
	default:
		return fmt.Errorf("armor continuous update %q: want adam, gd or exact", c.Continuous)
	}
	switch c.Select {
	case SelectGradient, SelectGreedy, SelectRandom:
	default:
		return fmt.Errorf("armor group selection %q: want gradient, greedy or random", c.Select)
	}
	return nil
}

// Name returns "armor".
func (a *ARMOR) Name() string { return "armor" }

// Prune runs ARMOR on l.
func (a *ARMOR) Prune(l *Layer) (*Result, error) {
	p, cfg := a.Pattern, a.Config
	if err := l.Check(p); err != nil {
		return nil, err
	}
	if err := cfg.Validate(p); err != nil {
		return nil, err
	}
	norm := Normalize(l.W)
	st, err := NewARMORState(norm, l.Stats.Hdiag, p, cfg.BlockSize, cfg.Threads)
	if err != nil {
		return nil, err
	}
	run := newARMORRun(st, cfg)
	if err := run.Run(); err != nil {
		return nil, err
	}
	best := run.Best
	res := &Result{
		Method: a.Name(), Pattern: p, Mask: best.Mask,
		Core: best.Core(), History: run.History, Iterations: run.Iterations,
		BlockSize: cfg.BlockSize, StoppedEarly: run.StoppedEarly,
	}
	res.A, res.B, res.What = foldARMOR(norm, best)
	return finish(l, norm, res)
}

// foldARMOR returns the deployed factors A = diag(r)·A_n and B = B_n·diag(c)
// and their product Ŵ = A·S·B (computed as diag(r)·(E+W̄)·diag(c), which is the
// same product already formed tile by tile).
func foldARMOR(norm *Normalization, st *ARMORState) (A, B, What *mat.Dense) {
	A, B = st.A.Dense(), st.B.Dense()
	for i := range norm.R {
		row := A.RawRowView(i)
		for k := range row {
			row[k] *= norm.R[i]
		}
	}
	for k := range norm.C {
		for i := range norm.C {
			B.Set(i, k, B.At(i, k)*norm.C[k])
		}
	}
	return A, B, norm.FromNormalized(st.Normalized())
}

// armorRun is one block-coordinate-descent run over a state.
type armorRun struct {
	st  *ARMORState
	cfg ARMORConfig
	rng *rand.Rand

	// Best is the lowest-loss state seen; History the loss after each
	// iteration (History[0] = starting loss).
	Best         *ARMORState
	History      []float64
	Iterations   int
	StoppedEarly bool

	G, gS      *mat.Dense
	gA, gB     *BlockDiag
	adamA      adamBlocks
	adamB      adamBlocks
	mV, vV     []float64
	step       int
	groupScore []float64
}

func newARMORRun(st *ARMORState, cfg ARMORConfig) *armorRun {
	r := &armorRun{st: st, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x41524d4f52))}
	dOut, dIn := st.dOut, st.dIn
	r.G = mat.NewDense(dOut, dIn, nil)
	r.gS = mat.NewDense(dOut, dIn, nil)
	r.gA, r.gB = st.A.Clone(), st.B.Clone()
	r.adamA, r.adamB = newAdamBlocks(st.A), newAdamBlocks(st.B)
	r.mV, r.vV = make([]float64, dOut*dIn), make([]float64, dOut*dIn)
	return r
}

// Run performs up to cfg.Iters iterations, recording the loss after each.
func (r *armorRun) Run() error {
	st := r.st
	loss := st.Loss()
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return errors.New("armor: starting loss is not finite")
	}
	r.History = append(r.History[:0], loss)
	r.Best = st.Clone()
	bestLoss, stale := loss, 0
	for t := 1; t <= r.cfg.Iters; t++ {
		switch r.cfg.Continuous {
		case ContinuousGD:
			r.continuousTheoryStep(false)
		case ContinuousExact:
			r.continuousTheoryStep(true)
		default:
			r.adamStep()
		}
		groups := r.selectGroups()
		if _, err := st.SparseCoreStep(groups, true); err != nil {
			return err
		}
		loss = st.Loss()
		r.History = append(r.History, loss)
		r.Iterations = t
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("armor: loss became %v at iteration %d (learning rate %g too large?)", loss, t, r.cfg.LR)
		}
		if loss < bestLoss-(r.cfg.RTol*bestLoss+r.cfg.ATol) {
			stale = 0
		} else {
			stale++
		}
		if loss < bestLoss {
			bestLoss = loss
			r.Best.copyFrom(st)
		}
		if r.cfg.Patience > 0 && stale >= r.cfg.Patience {
			r.StoppedEarly = true
			break
		}
	}
	return nil
}

// adamBlocks holds Adam's moments for a block-diagonal parameter.
type adamBlocks struct{ m, v [][]float64 }

func newAdamBlocks(bd *BlockDiag) adamBlocks {
	var a adamBlocks
	for _, b := range bd.Blocks {
		a.m = append(a.m, make([]float64, len(b)))
		a.v = append(a.v, make([]float64, len(b)))
	}
	return a
}

// adamUpdate applies one PyTorch-style Adam update (no weight decay) to x
// with gradient g and moments m, v; bc1 and bc2 are the bias corrections
// 1−β1^t and 1−β2^t. Entries with skip[k] set get zero gradient.
func adamUpdate(x, g, m, v []float64, skip []bool, cfg ARMORConfig, bc1, bc2 float64) {
	for k := range x {
		gk := g[k]
		if skip != nil && skip[k] {
			gk = 0
		}
		m[k] = cfg.Beta1*m[k] + (1-cfg.Beta1)*gk
		v[k] = cfg.Beta2*v[k] + (1-cfg.Beta2)*gk*gk
		x[k] -= cfg.LR * (m[k] / bc1) / (math.Sqrt(v[k]/bc2) + cfg.Eps)
	}
}

// adamStep is the continuous step: gradients at the current point, one Adam
// update of A, B and V (pruned entries of V get zero gradient), then the
// residual is recomputed.
func (r *armorRun) adamStep() {
	st := r.st
	st.gradients(r.G, r.gA, r.gB, r.gS, nil)
	r.step++
	bc1 := 1 - math.Pow(r.cfg.Beta1, float64(r.step))
	bc2 := 1 - math.Pow(r.cfg.Beta2, float64(r.step))
	for k := range st.A.Blocks {
		adamUpdate(st.A.Blocks[k], r.gA.Blocks[k], r.adamA.m[k], r.adamA.v[k], nil, r.cfg, bc1, bc2)
	}
	for k := range st.B.Blocks {
		adamUpdate(st.B.Blocks[k], r.gB.Blocks[k], r.adamB.m[k], r.adamB.v[k], nil, r.cfg, bc1, bc2)
	}
	v, gs := st.V.RawMatrix().Data, r.gS.RawMatrix().Data
	keep := st.Mask.Keep
	parallelFor(st.dOut, st.threads, func(i int) {
		lo, hi := i*st.dIn, (i+1)*st.dIn
		for k := lo; k < hi; k++ {
			gk := gs[k]
			if !keep[k] {
				gk = 0
			}
			r.mV[k] = r.cfg.Beta1*r.mV[k] + (1-r.cfg.Beta1)*gk
			r.vV[k] = r.cfg.Beta2*r.vV[k] + (1-r.cfg.Beta2)*gk*gk
			v[k] -= r.cfg.LR * (r.mV[k] / bc1) / (math.Sqrt(r.vV[k]/bc2) + r.cfg.Eps)
		}
	})
	st.Refresh()
}

// selectGroups picks one group per tile by the configured rule. Random draws
// are made in tile order on one generator before any parallel work, so the
// choice does not depend on the number of threads.
func (r *armorRun) selectGroups() []Group {
	st := r.st
	M := st.Pattern.M
	nr, nc := st.TileCount()
	draws := make([]float64, nr*nc)
	for k := range draws {
		draws[k] = r.rng.Float64()
	}
	if r.cfg.Select != SelectRandom {
		// ∂L/∂S at the current (post-Adam) point, pruned entries included.
		st.gradients(r.G, nil, nil, r.gS, nil)
	}
	groups := make([]Group, nr*nc)
	gs := r.gS.RawMatrix().Data
	parallelFor(nr*nc, st.threads, func(t int) {
		i, j := t/nc, t%nc
		r0, rs := st.A.Starts[i], st.A.Sizes[i]
		c0, cs := st.B.Starts[j], st.B.Sizes[j]
		perRow := cs / M
		n := rs * perRow
		if r.cfg.Select == SelectRandom {
			k := min(int(draws[t]*float64(n)), n-1)
			groups[t] = Group{Row: r0 + k/perRow, Col: c0 + (k%perRow)*M}
			return
		}
		total, bestK, bestW := 0.0, 0, -1.0
		w := make([]float64, n)
		for k := 0; k < n; k++ {
			row, col := r0+k/perRow, c0+(k%perRow)*M
			s := 0.0
			for _, g := range gs[row*st.dIn+col : row*st.dIn+col+M] {
				s += math.Abs(g)
			}
			w[k] = s
			total += s
			if s > bestW {
				bestK, bestW = k, s
			}
		}
		k := bestK
		if r.cfg.Select == SelectGradient {
			if total > 0 && !math.IsInf(total, 0) {
				target, acc := draws[t]*total, 0.0
				k = n - 1
				for q, s := range w {
					acc += s
					if target < acc {
						k = q
						break
					}
				}
			} else {
				k = min(int(draws[t]*float64(n)), n-1)
			}
		}
		groups[t] = Group{Row: r0 + k/perRow, Col: c0 + (k%perRow)*M}
	})
	return groups
}
