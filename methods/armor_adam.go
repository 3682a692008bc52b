package methods

import (
	"math"
	"math/rand/v2"

	"github.com/prunebench/armor/internal/kernel"
	"gonum.org/v1/gonum/mat"
)

// adamState holds Adam's moments for A's and B's blocks and for the core
// values V, in the tile set's storage type, and the gradient buffers.
type adamState[T float] struct {
	gA, gB         [][]T
	mA, vA, mB, vB [][]T
	mV, vV         []T
	t              int // steps taken
}

func newAdamState[T float](ts *tileSet[T]) *adamState[T] {
	n := ts.dOut * ts.dIn
	return &adamState[T]{
		gA: newBlocks[T](ts.la), gB: newBlocks[T](ts.lb),
		mA: newBlocks[T](ts.la), vA: newBlocks[T](ts.la),
		mB: newBlocks[T](ts.lb), vB: newBlocks[T](ts.lb),
		mV: make([]T, n), vV: make([]T, n),
	}
}

// adamUpdate applies one PyTorch-style Adam update (no weight decay) to x
// with gradient g and moments m, v; bc1 and bc2 are the bias corrections
// 1−β1^t and 1−β2^t. Entries whose keep is false (when keep is given) get
// zero gradient: their moments decay as in PyTorch (their values, which
// nothing reads, are left alone); with keep given, the masked result x⊙keep
// is also written to s. The arithmetic is in the storage type, as PyTorch's
// Adam is in its parameters' dtype. The loops are kernel.Adam and
// kernel.AdamKeep (AVX2 where the processor has it, bitwise the same).
func adamUpdate[T float](x, g, m, v []T, keep []bool, s []T, cfg ARMORConfig, bc1, bc2 float64) {
	c := kernel.AdamConsts[T]{
		LR1: T(cfg.LR / bc1), RB2: T(1 / bc2), Eps: T(cfg.Eps),
		B1: T(cfg.Beta1), B2: T(cfg.Beta2), C1: T(1 - cfg.Beta1), C2: T(1 - cfg.Beta2),
	}
	g, m, v = g[:len(x)], m[:len(x)], v[:len(x)]
	if keep == nil {
		kernel.Adam(x, g, m, v, &c)
		return
	}
	kernel.AdamKeep(x, g, m, v, keep[:len(x)], s[:len(x)], &c)
}

// step is the paper's continuous step: gradients at the current point (G, Tg
// and ∂L/∂S are current: refreshGrad, then exact rank-one updates through the
// sparse-core step), one joint Adam update of A, B and V, then the residual
// is recomputed.
func (ad *adamState[T]) step(ts *tileSet[T], cfg ARMORConfig, grad bool) float64 {
	ts.blockGrads(ad.gA, ad.gB)
	ad.t++
	bc1 := 1 - math.Pow(cfg.Beta1, float64(ad.t))
	bc2 := 1 - math.Pow(cfg.Beta2, float64(ad.t))
	// One parallel loop over A's blocks, B's blocks and V's rows.
	nA, nB := len(ts.A), len(ts.B)
	kernel.For(nA+nB+ts.dOut, ts.threads, func(k int) {
		switch {
		case k < nA:
			adamUpdate(ts.A[k], ad.gA[k], ad.mA[k], ad.vA[k], nil, nil, cfg, bc1, bc2)
		case k < nA+nB:
			k -= nA
			adamUpdate(ts.B[k], ad.gB[k], ad.mB[k], ad.vB[k], nil, nil, cfg, bc1, bc2)
		default:
			i := k - nA - nB
			lo, hi := i*ts.dIn, (i+1)*ts.dIn
			adamUpdate(ts.V[lo:hi], ts.GS[lo:hi], ad.mV[lo:hi], ad.vV[lo:hi], ts.keep[lo:hi], ts.S[lo:hi], cfg, bc1, bc2)
		}
	})
	// S = V⊙M is current (written by the update): recompute S·B and E, and
	// with grad the gradients too, returning Σ h E² (refreshGrad's result).
	if grad {
		return ts.forwardGrad()
	}
	ts.forward()
	ts.gradValid = false
	return 0
}

// adamIteration is one iteration of the Adam variant: the Adam step, then
// the sparse-core step on the groups cfg's rule selects. It returns the loss
// after both.
func adamIteration[T float](ts *tileSet[T], ad *adamState[T], cfg ARMORConfig, rng *rand.Rand) (float64, error) {
	// The gradients at the new point, for the selection (computed with the
	// residual by forwardGrad), unless every group is taken.
	before := ad.step(ts, cfg, cfg.GroupsPerTile != 0)
	if cfg.GroupsPerTile == 1 {
		// One group per tile, the paper's schedule: ∂L/∂S is kept exact
		// through the sparse-core step for the next Adam step, and the loss
		// is the step's Σ h E² plus the groups' exact changes, so E itself
		// need not be updated.
		groups := selectGroups(ts, cfg, rng)
		_, d, err := ts.sparseCoreStep(groups, true, true)
		if err != nil {
			return 0, err
		}
		return (before + d) / ts.denom, nil
	}
	groups := selectGroups(ts, cfg, rng)
	// Many groups per tile: recomputing the gradients once is cheaper than
	// keeping them exact through every rank-one update.
	ts.gradValid = false
	if _, _, err := ts.sparseCoreStep(groups, true, false); err != nil {
		return 0, err
	}
	return ts.loss(), nil
}

// snapshot is the part of a tile set that determines it (A, B, V and the
// mask); the rest is rebuilt by refresh on restore.
type snapshot[T float] struct {
	loss float64
	A, B [][]T
	V    []T
	keep []bool
}

// save records ts's current state with its loss.
func (s *snapshot[T]) save(ts *tileSet[T], loss float64) {
	if s.A == nil {
		s.A, s.B = newBlocks[T](ts.la), newBlocks[T](ts.lb)
		s.V, s.keep = make([]T, len(ts.V)), make([]bool, len(ts.keep))
	}
	copyFactors(s.A, s.B, s.V, s.keep, ts.A, ts.B, ts.V, ts.keep)
	s.loss = loss
}

// restore puts the saved state back into ts and recomputes the rest.
func (s *snapshot[T]) restore(ts *tileSet[T]) {
	copyFactors(ts.A, ts.B, ts.V, ts.keep, s.A, s.B, s.V, s.keep)
	ts.refresh()
}

// copyFactors copies the blocks of A and B, the values and the mask from the
// src arguments to the dst ones (same shapes).
func copyFactors[T float](dA, dB [][]T, dV []T, dKeep []bool, sA, sB [][]T, sV []T, sKeep []bool) {
	for k := range dA {
		copy(dA[k], sA[k])
	}
	for k := range dB {
		copy(dB[k], sB[k])
	}
	copy(dV, sV)
	copy(dKeep, sKeep)
}

// armorRun32 is an Adam-variant run on a float32 working set.
type armorRun32 struct {
	ts   *tileSet[float32]
	cfg  ARMORConfig
	rng  *rand.Rand
	adam *adamState[float32]
	best snapshot[float32]
	runRecord
}

func (r *armorRun32) currentLoss() float64 { return r.ts.loss() }
func (r *armorRun32) save(loss float64)    { r.best.save(r.ts, loss) }
func (r *armorRun32) restoreBest()         { r.best.restore(r.ts) }
func (r *armorRun32) bestLoss() float64    { return r.best.loss }
func (r *armorRun32) iteration() (float64, error) {
	return adamIteration(r.ts, r.adam, r.cfg, r.rng)
}

// newARMORRun32 starts a float32 Adam run at NoWag-P (A = I, B = I, V = W̄,
// NoWag-P's mask), like NewARMORState.
func newARMORRun32(norm *Normalization, hdiag []float64, p Pattern, cfg ARMORConfig) (*armorRun32, error) {
	mask, err := checkARMORStart(norm, hdiag, p, cfg.BlockSize)
	if err != nil {
		return nil, err
	}
	ts := newTileSet[float32](norm, hdiag, mask, p, cfg.BlockSize, cfg.Threads)
	ts.selWeights = wantsSelWeights(cfg)
	return &armorRun32{ts: ts, cfg: cfg, rng: newARMORRand(cfg), adam: newAdamState(ts)}, nil
}

// runARMOR32 runs the Adam variant in float32 and returns its best state as
// a float64 ARMORState (so the reported loss is exact) with the run's record.
func runARMOR32(norm *Normalization, hdiag []float64, p Pattern, cfg ARMORConfig) (*ARMORState, *runRecord, error) {
	run, err := newARMORRun32(norm, hdiag, p, cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := descend(run, cfg, true, &run.runRecord); err != nil {
		return nil, nil, err
	}
	ts := run.ts
	A, B := NewBlockDiagIdentity(ts.dOut, cfg.BlockSize), NewBlockDiagIdentity(ts.dIn, cfg.BlockSize)
	for k := range A.Blocks {
		A.Blocks[k] = convertSlice[float64](ts.A[k])
	}
	for k := range B.Blocks {
		B.Blocks[k] = convertSlice[float64](ts.B[k])
	}
	V := mat.NewDense(ts.dOut, ts.dIn, convertSlice[float64](ts.V))
	mask := &Mask{Rows: ts.dOut, Cols: ts.dIn, Keep: ts.keep}
	rec := run.runRecord
	run = nil // the float32 working set is no longer needed
	st, err := NewARMORState(norm, hdiag, p, cfg.BlockSize, cfg.Threads)
	if err != nil {
		return nil, nil, err
	}
	if err := st.SetFactors(A, B, V, mask); err != nil {
		return nil, nil, err
	}
	return st, &rec, nil
}
