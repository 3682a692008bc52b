package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prunebench/armor/internal/kernel"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// Synthetic builds the three deployed forms of one random out × in layer
// for timing: dense, its 2:4 magnitude-masked compression and an ARMOR
// factorisation with blocks of size block around a random 2:4 core.
func Synthetic(out, in, block int, s Storage, seed uint64) (dense, sparse, armor Operator, err error) {
	r := rand.New(rand.NewPCG(seed, 1))
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	masked := slices.Clone(w)
	mask24(masked)
	d, err := NewDense("dense", w, out, in, s)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := Compress("2:4", masked, out, in, methods.Pattern24, s)
	if err != nil {
		return nil, nil, nil, err
	}
	sp, err := NewSparse("2:4", c)
	if err != nil {
		return nil, nil, nil, err
	}
	fa, err := syntheticFactored(r, c, block, s)
	return d, sp, fa, err
}

// mask24 zeroes the two smallest-magnitude entries of every group of 4.
func mask24(w []float32) {
	for g := 0; g+4 <= len(w); g += 4 {
		q := w[g : g+4]
		for range 2 {
			lo := -1
			for k, v := range q {
				if v != 0 && (lo < 0 || math.Abs(float64(v)) < math.Abs(float64(q[lo]))) {
					lo = k
				}
			}
			if lo >= 0 {
				q[lo] = 0
			}
		}
	}
}

// syntheticFactored wraps core c in random block-diagonal A and B.
func syntheticFactored(r *rand.Rand, c *Compressed, block int, s Storage) (*Factored, error) {
	ob, ib := methods.BlockSizes(c.Out, block), methods.BlockSizes(c.In, block)
	blocks := func(sizes []int) []float32 {
		var v []float32
		for _, b := range sizes {
			sc := 1 / math.Sqrt(float64(b))
			for range b * b {
				v = append(v, float32(r.NormFloat64()*sc))
			}
		}
		return v
	}
	return NewFactored("armor", ob, blocks(ob), ib, blocks(ib), c, s)
}

// TimeCalls returns the seconds per call of op on rows random rows: the
// median of reps timings of enough calls to take minTime each.
func TimeCalls(op Operator, rows, reps int, minTime time.Duration) float64 {
	out, in := op.Dims()
	x := make([]float32, rows*in)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	y := make([]float32, rows*out)
	op.Apply(x, rows, y)
	n := 1
	for {
		t0 := time.Now()
		for range n {
			op.Apply(x, rows, y)
		}
		if el := time.Since(t0); el >= minTime/4 || n > 1<<20 {
			n = max(1, int(float64(n)*float64(minTime)/float64(max(el, time.Microsecond))))
			break
		}
		n *= 2
	}
	times := make([]float64, reps)
	for k := range reps {
		t0 := time.Now()
		for range n {
			op.Apply(x, rows, y)
		}
		times[k] = time.Since(t0).Seconds() / float64(n)
	}
	slices.Sort(times)
	return times[reps/2]
}

// Bandwidth measures streaming read bandwidth in bytes per second: the
// median of reps sums of a buffer of the given size, split over Threads()
// goroutines.
func Bandwidth(bytes int64, reps int) float64 {
	buf := make([]float32, bytes/4)
	for i := range buf {
		buf[i] = 1
	}
	th := Threads()
	part := len(buf) / th / 32 * 32
	sums := make([]float32, th)
	times := make([]float64, reps)
	for k := range reps {
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := range th {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sums[i] = kernel.SumF32(buf[i*part : (i+1)*part])
			}()
		}
		wg.Wait()
		times[k] = time.Since(t0).Seconds()
	}
	slices.Sort(times)
	return float64(4*part*th) / times[reps/2]
}

// DecodeBytes is the bytes one call on rows rows must move: the stored
// weights, once, plus the inputs and outputs.
func DecodeBytes(op Operator, rows int) int64 {
	out, in := op.Dims()
	return op.StoredBytes() + int64(4*rows*(out+in))
}

// Flops is the multiply-adds ×2 of one call on rows rows (kept weights
// only: for 2:4 half the dense count, for ARMOR the core plus A and B).
func Flops(op Operator, rows int) float64 {
	out, in := op.Dims()
	switch o := op.(type) {
	case *Sparse:
		return 2 * float64(rows) * float64(o.C.Out*o.C.KeptPerRow())
	case *Factored:
		return 2 * float64(rows) * float64(o.core.C.Out*o.core.C.KeptPerRow()+o.a.w.len()+o.b.w.len())
	}
	return 2 * float64(rows) * float64(out*in)
}

// DecodeTokensPerSecond feeds prompt to a fresh session of m, then n more
// tokens one at a time (greedy), and returns the decode rate of those n.
func DecodeTokensPerSecond(m *model.Model, prompt []int, n int) (float64, error) {
	s := m.NewSession()
	logits, err := s.Feed(prompt)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	for range n {
		next := 0
		for i, v := range logits {
			if v > logits[next] {
				next = i
			}
		}
		if logits, err = s.Feed([]int{next}); err != nil {
			return 0, fmt.Errorf("decode: %w", err)
		}
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// shallow returns weights sharing w's tensors, with their own layer slots
// (so SetOperator on it leaves w as it is).
func shallow(w *model.Weights) *model.Weights {
	c := *w
	c.Layers = slices.Clone(w.Layers)
	return &c
}

// TimingForms returns three models over m's tensors for timing: every
// decoder linear dense (s storage), 2:4-compressed after magnitude masking
// (a layer already 2:4 stays as it is) and ARMOR-factorised around that
// core with random blocks of size block. m is not changed; the forms share
// its embedding and norms.
func TimingForms(m *model.Model, block int, s Storage, seed uint64) (dense, sparse, armor *model.Model, err error) {
	r := rand.New(rand.NewPCG(seed, 2))
	cfg := m.Config()
	wd, ws, wa := shallow(m.Weights()), shallow(m.Weights()), shallow(m.Weights())
	for _, name := range m.Weights().LinearNames() {
		l, err := m.Weights().Linear(name)
		if err != nil {
			return nil, nil, nil, err
		}
		if l.Op != nil {
			return nil, nil, nil, fmt.Errorf("%s: model already converted", name)
		}
		lw := l.Float32s()
		d, err := NewDense(name, lw, l.Out, l.In, s)
		if err != nil {
			return nil, nil, nil, err
		}
		masked := slices.Clone(lw)
		mask24(masked)
		c, err := Compress(name, masked, l.Out, l.In, methods.Pattern24, s)
		if err != nil {
			return nil, nil, nil, err
		}
		sp, err := NewSparse(name, c)
		if err != nil {
			return nil, nil, nil, err
		}
		fa, err := syntheticFactored(r, c, block, s)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, set := range []struct {
			w  *model.Weights
			op Operator
		}{{wd, d}, {ws, sp}, {wa, fa}} {
			if err := set.w.SetOperator(name, set.op); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	if dense, err = model.New(cfg, wd); err == nil {
		if sparse, err = model.New(cfg, ws); err == nil {
			armor, err = model.New(cfg, wa)
		}
	}
	return dense, sparse, armor, err
}

// RandomModel returns a model of cfg with tied embeddings and N(0, 0.02²)
// weights (a stand-in for a real checkpoint of that shape, for timing).
func RandomModel(cfg model.Config, seed uint64) (*model.Model, error) {
	w, err := model.NewWeights(cfg, true)
	if err != nil {
		return nil, err
	}
	fill := func(v []float32, k uint64) {
		r := rand.New(rand.NewPCG(seed, k))
		for i := range v {
			v[i] = float32(0.02 * r.NormFloat64())
		}
	}
	fill(w.TokenEmbedding, 0)
	var wg sync.WaitGroup
	for k, name := range w.LinearNames() {
		l, _ := w.Linear(name)
		wg.Add(1)
		go func() { defer wg.Done(); fill(l.W, uint64(k+1)) }()
	}
	wg.Wait()
	return model.New(cfg, w)
}
