package methods

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

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
	// GroupsPerTile is how many groups of each tile the sparse-core step
	// updates per iteration, one after another: 1 as in the paper, k > 1
	// chosen by Select without replacement, or 0 for every group of the tile
	// (a full coordinate sweep over the core, in row-major order).
	GroupsPerTile int
	// Sweeps is how many sparse-core steps the theory variants (gd, exact)
	// take after each continuous step (≤ 0: one). Each is a sweep over the
	// selected groups (SweepCore) followed by an exact recomputation of the
	// residual. Adam takes one sparse-core step per iteration regardless.
	Sweeps int
	// CGIters caps the conjugate-gradient iterations of the exact variant's
	// core-value update (0: until its tolerance). Any number of CG steps
	// lowers the quadratic, so a capped update still never increases the
	// loss (Theorem 3.1 only asks for that); it is just not the exact block
	// minimizer.
	CGIters int
	// ValueEvery makes the theory variants' continuous step update the core
	// values only every ValueEvery-th iteration (≤ 1: every iteration); A
	// and B are updated every iteration. The sparse-core sweeps re-solve the
	// values of the groups they visit anyway, so with many groups per tile
	// the separate value update can be rarer. (Skipping a block is a step
	// that does not increase the loss, so Theorem 3.1 still applies.)
	ValueEvery int
	// Relax is the over-relaxation factor ω of the theory variants (≤ 0:
	// 1, no relaxation): exact moves each A and B block to x + ω·(x* − x),
	// x* its exact minimizer; gd steps ω/β instead of 1/β. ω in (0, 2) never
	// increases the loss; values above 1 cut the zig-zag of alternating
	// minimization.
	Relax float64
	// Extrapolate makes the theory variants try, after every iteration, a
	// step along the change of A, B and the core values over that iteration
	// (a line-search extrapolation, as used to accelerate alternating least
	// squares), kept only when it lowers the loss.
	Extrapolate bool
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
	// Precision is the storage type of the Adam variant's working set:
	// "float64" (the default) or "float32", which halves memory and runs the
	// tile products on sgemm (the authors' code is float32). Losses, the
	// selection weights and each group's solve accumulate in float64 either
	// way, and the returned factors are re-evaluated in float64. The theory
	// variants (gd, exact) are float64 only: their monotonicity guarantee is
	// checked at rounding level.
	Precision Precision
}

// DefaultARMORConfig returns the released code's defaults: b = 32, 3000
// iterations, Adam(1e-4, 0.9, 0.999, 1e-8), gradient-sampled groups,
// patience 100 with rtol 1e-6 and atol 1e-8, seed 0.
func DefaultARMORConfig() ARMORConfig {
	return ARMORConfig{
		BlockSize: 32, Iters: 3000,
		Continuous: ContinuousAdam,
		LR:         1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		Select: SelectGradient, GroupsPerTile: 1,
		Patience: 100, RTol: 1e-6, ATol: 1e-8,
		Precision: Float64,
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
	case c.GroupsPerTile < 0:
		return fmt.Errorf("armor groups per tile %d must be ≥ 0 (0: all)", c.GroupsPerTile)
	case !(c.Relax < 2) || math.IsNaN(c.Relax):
		return fmt.Errorf("armor over-relaxation %g must be < 2", c.Relax)
	case c.Sweeps < 0 || c.CGIters < 0 || c.ValueEvery < 0:
		return fmt.Errorf("armor sweeps per iteration %d, CG iterations %d and value-update period %d must be ≥ 0", c.Sweeps, c.CGIters, c.ValueEvery)
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
	switch c.Precision {
	case "", Float64:
	case Float32:
		if c.Continuous != ContinuousAdam {
			return fmt.Errorf("armor precision float32 is available for the adam continuous update only, not %q (the theory variants need float64)", c.Continuous)
		}
	default:
		return fmt.Errorf("armor precision %q: want float64 or float32", c.Precision)
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
	var st *ARMORState
	var rec *runRecord
	var err error
	if cfg.Precision == Float32 {
		if st, rec, err = runARMOR32(norm, l.Stats.Hdiag, p, cfg); err != nil {
			return nil, err
		}
	} else {
		if st, err = NewARMORState(norm, l.Stats.Hdiag, p, cfg.BlockSize, cfg.Threads); err != nil {
			return nil, err
		}
		run := newARMORRun(st, cfg)
		if err := run.Run(); err != nil {
			return nil, err
		}
		rec = &run.runRecord
	}
	// The result takes the state's S = V⊙M as its core instead of a copy
	// (st.Core()): the state is dropped after folding, and folding reads S
	// without writing it.
	res := &Result{
		Method: a.Name(), Pattern: p, Mask: st.Mask,
		Core: st.S, History: rec.History, Elapsed: rec.Elapsed, Iterations: rec.Iterations,
		BlockSize: cfg.BlockSize, StoppedEarly: rec.StoppedEarly,
	}
	res.A, res.B, res.What = foldARMOR(norm, st)
	return finish(l, norm, res)
}

// foldARMOR returns the deployed factors A = diag(r)·A_n and B = B_n·diag(c)
// and their product Ŵ = A·S·B (computed as diag(r)·(E+W̄)·diag(c), which is the
// same product already formed tile by tile). Ŵ is formed first, in the
// storage of the normalized product E+W̄: the state's
// d_out × d_in arrays are then no longer referenced here and can be collected
// before the dense d_out² and d_in² factors are allocated (the values do not
// depend on the order).
func foldARMOR(norm *Normalization, st *ARMORState) (A, B, What *mat.Dense) {
	What = st.Normalized() // a new matrix, scaled in place to Ŵ
	norm.fromNormalizedInto(What, What.RawMatrix())
	a, b := st.A, st.B // the last use of st
	A, B = a.Dense(), b.Dense()
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
	return A, B, What
}

// runRecord is what a run reports: the loss after each iteration
// (History[0] = starting loss), the wall-clock seconds since the start at each
// entry, the iterations done and whether early stopping ended the run.
type runRecord struct {
	History      []float64
	Elapsed      []float64
	Iterations   int
	StoppedEarly bool
}

// descentRun is one ARMOR run as the descent loop sees it.
type descentRun interface {
	// currentLoss is the loss of the current state.
	currentLoss() float64
	// iteration performs one iteration and returns the loss after it.
	iteration() (float64, error)
	// save records the current state, of the given loss, as the best one;
	// restoreBest returns to it, and bestLoss reports its loss.
	save(loss float64)
	restoreBest()
	bestLoss() float64
}

// descend performs up to cfg.Iters iterations of d, recording the loss after
// each in rec, with cfg's early stopping. With snapshots (the Adam variant,
// which may raise the loss) it leaves d at the lowest loss seen; the theory
// variants never raise it, so their final state is their best.
func descend(d descentRun, cfg ARMORConfig, snapshots bool, rec *runRecord) error {
	loss := d.currentLoss()
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return errors.New("armor: starting loss is not finite")
	}
	start := time.Now()
	rec.History = append(rec.History[:0], loss)
	rec.Elapsed = append(rec.Elapsed[:0], 0)
	if snapshots {
		d.save(loss)
	}
	bestLoss, stale := loss, 0
	for t := 1; t <= cfg.Iters; t++ {
		var err error
		if loss, err = d.iteration(); err != nil {
			return err
		}
		rec.History = append(rec.History, loss)
		rec.Elapsed = append(rec.Elapsed, time.Since(start).Seconds())
		rec.Iterations = t
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("armor: loss became %v at iteration %d (learning rate %g too large?)", loss, t, cfg.LR)
		}
		if loss < bestLoss-(cfg.RTol*bestLoss+cfg.ATol) {
			stale = 0
		} else {
			stale++
		}
		if loss < bestLoss {
			bestLoss = loss
			if snapshots {
				d.save(loss)
			}
		}
		if cfg.Patience > 0 && stale >= cfg.Patience {
			rec.StoppedEarly = true
			break
		}
	}
	if snapshots && d.bestLoss() < loss {
		d.restoreBest()
	}
	return nil
}

// armorRun is one block-coordinate-descent run over a float64 state, for
// every continuous rule.
type armorRun struct {
	st  *ARMORState
	cfg ARMORConfig
	rng *rand.Rand
	runRecord

	best     snapshot[float64]
	gA, gB   *BlockDiag
	adam     *adamState[float64]
	coreV    *mat.Dense // saveCore's copy of V
	coreKeep []bool     // and of the mask

	theoryIters int          // iterations of a theory variant so far
	extrap      *armorExtrap // see armor_theory.go
	panel       *mat.Dense   // d_out × d_in scratch of the exact/gd A and B updates
}

func newARMORRun(st *ARMORState, cfg ARMORConfig) *armorRun {
	r := &armorRun{st: st, cfg: cfg, rng: newARMORRand(cfg)}
	st.ts.selWeights = wantsSelWeights(cfg)
	r.gA, r.gB = st.A.Clone(), st.B.Clone()
	if cfg.Continuous == ContinuousAdam {
		r.adam = newAdamState(st.ts)
		r.adam.gA, r.adam.gB = r.gA.Blocks, r.gB.Blocks
	}
	return r
}

func (r *armorRun) currentLoss() float64 { return r.st.Loss() }
func (r *armorRun) save(loss float64)    { r.best.save(r.st.ts, loss) }
func (r *armorRun) restoreBest()         { r.best.restore(r.st.ts) }
func (r *armorRun) bestLoss() float64    { return r.best.loss }

// Run performs up to cfg.Iters iterations, recording the loss after each, and
// leaves the state at the lowest loss seen.
func (r *armorRun) Run() error {
	err := descend(r, r.cfg, r.cfg.Continuous == ContinuousAdam, &r.runRecord)
	r.st.ts.settle() // E exact for the caller
	return err
}

// iteration performs one continuous step and one sparse-core step and
// returns the loss after them.
func (r *armorRun) iteration() (float64, error) {
	if r.cfg.Continuous != ContinuousAdam {
		return r.theoryIteration() // armor_theory.go
	}
	return adamIteration(r.st.ts, r.adam, r.cfg, r.rng)
}

// saveCore and restoreCore keep the core (values and mask) across a
// sparse-core step that may have to be undone.
func (r *armorRun) saveCore() {
	if r.coreV == nil {
		r.coreV = mat.DenseCopyOf(r.st.V)
		r.coreKeep = append([]bool(nil), r.st.Mask.Keep...)
		return
	}
	r.coreV.Copy(r.st.V)
	copy(r.coreKeep, r.st.Mask.Keep)
}

func (r *armorRun) restoreCore() {
	r.st.V.Copy(r.coreV)
	copy(r.st.Mask.Keep, r.coreKeep)
}

// selectGroups picks the groups of every tile by the configured rule (see
// the generic selectGroups).
func (r *armorRun) selectGroups() []Group { return selectGroups(r.st.ts, r.cfg, r.rng) }
