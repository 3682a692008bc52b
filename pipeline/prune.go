package pipeline

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/jsonfloat"

	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// Protocol says which model produces the calibration inputs of each block.
type Protocol string

// The calibration protocols (see the package comment).
const (
	ProtocolDense      Protocol = "dense"
	ProtocolSequential Protocol = "sequential"
)

// ParseProtocol checks a protocol name.
func ParseProtocol(s string) (Protocol, error) {
	switch Protocol(s) {
	case ProtocolDense, ProtocolSequential:
		return Protocol(s), nil
	}
	return "", fmt.Errorf("unknown calibration protocol %q (want dense or sequential)", s)
}

// DefaultProtocol is the protocol each method's authors use: sequential for
// SparseGPT and Wanda (and magnitude, which ignores it), dense for NoWag-P
// and ARMOR.
func DefaultProtocol(method string) Protocol {
	switch method {
	case "nowag", "armor":
		return ProtocolDense
	}
	return ProtocolSequential
}

// Options configure Prune.
type Options struct {
	// Method is a methods registry name (magnitude, wanda, sparsegpt,
	// nowag, armor) and Config its settings (pattern, SparseGPT, ARMOR).
	Method string
	Config methods.Config
	// Protocol is dense or sequential.
	Protocol Protocol
	// Calibration are the calibration windows (token sequences, each at
	// most the model's context length).
	Calibration [][]int
	// ChunkWindows is how many windows go through a block at once (default
	// 8); it bounds the memory of the block's intermediate activations.
	ChunkWindows int
	// Workers is how many layers of a block are pruned at once (≤ 0: the
	// number of CPUs). ARMOR's kernels then run single-threaded; results do
	// not depend on it.
	Workers int
	// MaxMemory, when positive and Workers is not, bounds the working sets
	// (LayerWorkingSet) of the layers pruned at once: as many of the
	// largest layer as fit, at least one. It does not limit the process's
	// memory by itself (cmd/armor also sets the Go runtime's soft limit).
	MaxMemory int64
	// Hessian accumulates the full H for every layer even when the method
	// does not need it, so that each layer's output error
	// E = ||X(W−Ŵ)ᵀ||²/||XWᵀ||² can be reported (O(d_in²) memory).
	// With sparsegpt in float32 (Config.SparseGPT.Precision), H is built
	// with float32 Gram products (methods.Accumulator.SetGramPrecision), so
	// these output errors are computed from that H too.
	Hessian bool
	// InPlace prunes m's own weights instead of a clone, halving peak
	// memory (for a 7B model, 27 GB of float32 weights instead of 54); m
	// is then the pruned model.
	InPlace bool
	// Log, when set, receives one line per pruned layer and per block.
	Log func(format string, args ...any)
	// Progress, when set, is called after each block with the number of
	// blocks pruned so far and the total (e.g. internal/progress.Bar.Hook).
	Progress func(done, total int)
	// ProgressLog, when set, receives one line per finished block: blocks
	// done, elapsed time and an estimate of the time left.
	ProgressLog func(format string, args ...any)
	// SpillDir, when set, receives every pruned block's half-precision
	// linear layers (one safetensors file per block, block-00000.safetensors
	// …, in their stored dtype) as soon as the block is done; the pruned
	// model then reads them from there (memory-mapped) instead of holding
	// them in memory, so a model larger than memory can be pruned. The
	// directory must exist and outlive the pruned model; float32 layers are
	// kept in memory.
	SpillDir string
}

// LayerReport is what pruning one linear layer produced.
type LayerReport struct {
	Name        string `json:"name"`
	DOut        int    `json:"d_out"`
	DIn         int    `json:"d_in"`
	ProxyLoss   Float  `json:"proxy_loss"`
	OutputError Float  `json:"output_error"` // NaN (null) without H
	// Kept is the number of non-zeros of the N:M weight (or core).
	Kept int `json:"kept"`
	// Wrapper is the number of entries of ARMOR's A and B blocks (0 for
	// the other methods).
	Wrapper      int     `json:"wrapper"`
	Iterations   int     `json:"iterations,omitempty"`
	StoppedEarly bool    `json:"stopped_early,omitempty"`
	Seconds      float64 `json:"seconds"`
}

// Pruned is a whole pruned model.
type Pruned struct {
	Method   string
	Protocol Protocol
	Pattern  methods.Pattern
	// Model computes with the effective dense weights Ŵ of every layer.
	Model *model.Model
	// Factors holds ARMOR's factorized layers by name (nil otherwise).
	Factors map[string]*Factored
	// Layers reports every pruned layer in forward order.
	Layers []LayerReport
	// Params counts the stored parameters of the dense and pruned model.
	Params ParamCount
	// CalibrationRows is the number of activation rows (tokens) per layer;
	// Seconds the wall time of the whole run.
	CalibrationRows int
	Seconds         float64
}

// Prune prunes every linear layer of every block of m with opt.Method under
// opt.Protocol and returns the pruned model. m is not modified unless
// opt.InPlace: the pruned model gets its own list of layers, whose linear
// layers are replaced one by one, and shares the embedding, norms and
// classifier (never modified) with m. Pruned layers keep the storage of
// the layer they replace: float32, or rounded (through float32, to nearest
// even) to the same 16-bit format, with its bias.
//
// Memory is bounded by one block: only the block being pruned is widened
// to float64 (one layer per worker), its statistics are dropped once its
// layers are pruned, and the pages of memory-mapped weights are released
// when their block is done (with SpillDir, the pruned block's too).
//
// Work is streamed per block: with H_i the hidden states of the calibration
// windows entering block i (H_0 the embeddings),
//
//	dense:      H_{i+1} = Block_i(H_i) with dense weights, statistics observed
//	            during that pass; then block i is pruned;
//	sequential: statistics observed during Block_i(H_i) (dense weights of
//	            block i, inputs from the pruned blocks < i); block i is
//	            pruned; H_{i+1} = Block_i(H_i) with the pruned weights.
func Prune(m *model.Model, opt Options) (*Pruned, error) {
	start := time.Now()
	if m == nil {
		return nil, fmt.Errorf("prune: nil model")
	}
	if opt.Protocol == "" {
		opt.Protocol = DefaultProtocol(opt.Method)
	}
	if _, err := ParseProtocol(string(opt.Protocol)); err != nil {
		return nil, err
	}
	meth, err := methods.New(opt.Method, opt.Config)
	if err != nil {
		return nil, err
	}
	if len(opt.Calibration) == 0 {
		return nil, fmt.Errorf("prune: no calibration windows")
	}
	cfg := m.Config()
	for _, p := range []struct {
		name string
		d    int
	}{{"dim", cfg.Dim}, {"hidden_dim", cfg.HiddenDim}} {
		if err := opt.Config.Pattern.Check(p.d); err != nil {
			return nil, fmt.Errorf("prune: model %s %d: %w", p.name, p.d, err)
		}
	}
	full := opt.Hessian || opt.Method == "sparsegpt"
	workers := chooseWorkers(opt.Workers, opt.MaxMemory, cfg, opt.Method, opt.Config, full)
	if workers > 1 {
		opt.Config.ARMOR.Threads = 1
		if meth, err = methods.New(opt.Method, opt.Config); err != nil {
			return nil, err
		}
	}
	chunk := opt.ChunkWindows
	if chunk <= 0 {
		chunk = 8
	}
	logf := opt.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	gram := methods.Float64
	if opt.Method == "sparsegpt" && opt.Config.SparseGPT.Precision == methods.Float32 {
		gram = methods.Float32 // SparseGPT rounds H to float32 anyway
	}

	w := m.Weights()
	pm := m
	if !opt.InPlace {
		w = shareWeights(w)
		if pm, err = model.New(cfg, w); err != nil {
			return nil, err
		}
	}
	out := &Pruned{Method: opt.Method, Protocol: opt.Protocol, Pattern: opt.Config.Pattern, Model: pm}
	if opt.Method == "armor" {
		out.Factors = map[string]*Factored{}
	}

	// Hidden states of the calibration windows, chunk by chunk.
	var hs []*model.Batch
	for c0 := 0; c0 < len(opt.Calibration); c0 += chunk {
		h, err := pm.Embed(opt.Calibration[c0:min(len(opt.Calibration), c0+chunk)])
		if err != nil {
			return nil, fmt.Errorf("prune: calibration windows %d..: %w", c0, err)
		}
		hs = append(hs, h)
		out.CalibrationRows += h.Rows()
	}

	progress := opt.ProgressLog
	if progress == nil {
		progress = func(string, ...any) {}
	}
	tBlocks := time.Now()
	for i := 0; i < cfg.NLayers; i++ {
		t0 := time.Now()
		dense := w.Layers[i]
		// Both protocols observe block i with its dense weights; dense
		// keeps the outputs of the first pass as the next block's input.
		// With full H, down_proj's (hidden × hidden) is gathered and used
		// in a pass of its own before the others', so the block never holds
		// all its H matrices and a layer's working set at once; a layer's
		// input does not depend on the layers after it, so the statistics
		// are those of a single pass.
		reps := make([]LayerReport, len(model.Projections))
		var nexts []*model.Batch
		for g, group := range passGroups(full) {
			acc := newBlockStatsFor(cfg, full, gram, group)
			for _, h := range hs {
				next, err := pm.Block(i, h, acc.observe)
				if err != nil {
					return nil, fmt.Errorf("prune: block %d: %w", i, err)
				}
				if acc.err != nil {
					return nil, fmt.Errorf("prune: block %d: %w", i, acc.err)
				}
				if g == 0 && opt.Protocol == ProtocolDense {
					nexts = append(nexts, next)
				}
			}
			// The pass touched every mapped page of the block's weights;
			// drop them (the file's pages stay in the page cache) so that
			// a layer's working set does not sit beside the stored bytes
			// of the layers not yet pruned, which each layer maps back in
			// when it is widened.
			releaseLayer(&w.Layers[i])
			if err := pruneBlock(w, i, meth, acc, workers, out.Factors, group, reps); err != nil {
				return nil, err
			}
			acc = nil
			debug.FreeOSMemory()
		}
		if opt.Protocol == ProtocolDense {
			copy(hs, nexts)
		}
		for _, r := range reps {
			logf("%s %s: proxy loss %.4f, output error %.4f, %.2fs", opt.Method, r.Name, float64(r.ProxyLoss), float64(r.OutputError), r.Seconds)
		}
		out.Layers = append(out.Layers, reps...)
		if opt.Protocol == ProtocolSequential && i+1 < cfg.NLayers {
			for c, h := range hs {
				if hs[c], err = pm.Block(i, h, nil); err != nil {
					return nil, fmt.Errorf("prune: block %d: %w", i, err)
				}
			}
		}
		if opt.SpillDir != "" {
			if err := spillBlock(opt.SpillDir, w, i); err != nil {
				return nil, err
			}
		}
		releaseLayer(&dense)
		releaseLayer(&w.Layers[i])
		debug.FreeOSMemory()
		logf("block %d/%d pruned (%s, %s protocol) in %.1fs", i+1, cfg.NLayers, opt.Method, opt.Protocol, time.Since(t0).Seconds())
		if opt.Progress != nil {
			opt.Progress(i+1, cfg.NLayers)
		}
		el := time.Since(tBlocks)
		eta := time.Duration(float64(el) / float64(i+1) * float64(cfg.NLayers-i-1))
		progress("prune %s: block %d/%d done (%d/%d layers), %s elapsed, ETA %s", opt.Method, i+1, cfg.NLayers,
			(i+1)*len(model.Projections), cfg.NLayers*len(model.Projections), el.Round(time.Second), eta.Round(time.Second))
	}
	out.Params = CountParams(cfg, w, out.Layers)
	out.Seconds = time.Since(start).Seconds()
	return out, nil
}

// passGroups lists the projections whose statistics each pass over a
// block's calibration windows gathers: all in one pass, or, with full H,
// down_proj first and then the others.
func passGroups(full bool) [][]string {
	if !full {
		return [][]string{model.Projections}
	}
	return [][]string{{model.ProjDown}, {model.ProjQ, model.ProjK, model.ProjV, model.ProjO, model.ProjGate, model.ProjUp}}
}

// pruneLayerOrder is the order layers are handed to the workers: largest
// first, so the pool finishes together.
var pruneLayerOrder = []string{model.ProjGate, model.ProjUp, model.ProjDown, model.ProjQ, model.ProjO, model.ProjK, model.ProjV}

// pruneBlock prunes the linear layers projs of block i of w in place, up
// to workers at once, and stores their reports in reps (indexed like
// model.Projections).
func pruneBlock(w *model.Weights, i int, meth methods.Method, acc *blockStats, workers int, factors map[string]*Factored, projs []string, reps []LayerReport) error {
	type job struct {
		k    int
		name string
	}
	n := len(model.Projections)
	results := make([]*model.Linear, n)
	facs := make([]*Factored, n)
	errs := make([]error, n)
	jobs := make(chan job)
	var wg sync.WaitGroup
	for k := 0; k < min(workers, len(projs)); k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				reps[j.k], results[j.k], facs[j.k], errs[j.k] = pruneLayer(w, j.name, meth, acc)
			}
		}()
	}
	want := map[string]bool{}
	for _, p := range projs {
		want[p] = true
	}
	for _, p := range pruneLayerOrder {
		if want[p] {
			jobs <- job{projIndex(p), model.LinearName(i, p)}
		}
	}
	close(jobs)
	wg.Wait()
	for k, p := range model.Projections {
		if !want[p] {
			continue
		}
		if errs[k] != nil {
			return errs[k]
		}
		name := model.LinearName(i, p)
		if err := w.SetLinear(name, results[k]); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		if facs[k] != nil {
			factors[name] = facs[k]
		}
	}
	return nil
}

// projIndex is the index of projection p in model.Projections.
func projIndex(p string) int {
	for k, q := range model.Projections {
		if q == p {
			return k
		}
	}
	return -1
}

// pruneLayer prunes one layer with the statistics of its input.
func pruneLayer(w *model.Weights, name string, meth methods.Method, acc *blockStats) (LayerReport, *model.Linear, *Factored, error) {
	lin, err := w.Linear(name)
	if err != nil {
		return LayerReport{}, nil, nil, err
	}
	_, proj, _ := model.ParseLinearName(name)
	st, err := acc.stats(proj)
	if err != nil {
		return LayerReport{}, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	t0 := time.Now()
	dense := linearToDense(lin)
	if lin.IsHalf() {
		datasets.ReleaseMapped(lin.Half) // its float64 copy is what is used now
	}
	res, err := meth.Prune(&methods.Layer{W: dense, Stats: st})
	dense = nil
	acc.done(proj)
	if err != nil {
		return LayerReport{}, nil, nil, fmt.Errorf("%s (%d×%d): %s: %w", name, lin.Out, lin.In, meth.Name(), err)
	}
	rep := LayerReport{
		Name: name, DOut: lin.Out, DIn: lin.In,
		ProxyLoss: Float(res.ProxyLoss), OutputError: Float(res.OutputError),
		Kept: res.Mask.Kept(), Iterations: res.Iterations, StoppedEarly: res.StoppedEarly,
		Seconds: time.Since(t0).Seconds(),
	}
	var fac *Factored
	if res.A != nil {
		if fac, err = NewFactored(res); err != nil {
			return LayerReport{}, nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		rep.Wrapper = fac.WrapperParams()
	}
	return rep, storeLike(res.What, lin), fac, nil
}

// blockStats accumulates the statistics of the four distinct inputs of a
// block's linear layers: q/k/v share RMSNorm(x), gate/up share RMSNorm(h),
// and o and down have their own.
type blockStats struct {
	acc   map[string]*methods.Accumulator // by the projection that owns the input
	cache map[string]*methods.Stats
	users map[string]int // owner → layers that have not yet finished with its stats
	mu    sync.Mutex
	err   error
}

// inputOwner maps a projection to the projection whose input it shares.
var inputOwner = map[string]string{
	model.ProjQ: model.ProjQ, model.ProjK: model.ProjQ, model.ProjV: model.ProjQ,
	model.ProjO:    model.ProjO,
	model.ProjGate: model.ProjGate, model.ProjUp: model.ProjGate,
	model.ProjDown: model.ProjDown,
}

// newBlockStats returns the accumulators of one block, with the full H when
// full is set, its Gram products in precision gram (Float64 or Float32).
func newBlockStats(cfg model.Config, full bool, gram methods.Precision) *blockStats {
	return newBlockStatsFor(cfg, full, gram, model.Projections)
}

// newBlockStatsFor is newBlockStats for the inputs of projs only.
func newBlockStatsFor(cfg model.Config, full bool, gram methods.Precision, projs []string) *blockStats {
	b := &blockStats{
		acc:   map[string]*methods.Accumulator{},
		cache: map[string]*methods.Stats{},
		users: map[string]int{},
	}
	for _, p := range projs {
		owner := inputOwner[p]
		b.users[owner]++
		if b.acc[owner] == nil {
			dIn := cfg.Dim
			if owner == model.ProjDown {
				dIn = cfg.HiddenDim
			}
			b.acc[owner] = methods.NewAccumulator(dIn, full)
		}
	}
	for _, a := range b.acc {
		_ = a.SetGramPrecision(gram) // Float64 or Float32: never an error
	}
	return b
}

// observe is the model.Observer: it accumulates each distinct input once.
func (b *blockStats) observe(name string, x []float32, rows, cols int) {
	_, proj, err := model.ParseLinearName(name)
	if err != nil || b.err != nil {
		b.err = err
		return
	}
	a, ok := b.acc[proj]
	if !ok {
		return // k, v and up share the input of q and gate
	}
	if err := a.AddFloat32(x, rows); err != nil {
		b.err = fmt.Errorf("%s: %w", name, err)
	}
}

// stats returns the (shared, read-only) statistics of proj's input.
func (b *blockStats) stats(proj string) (*methods.Stats, error) {
	owner := inputOwner[proj]
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.cache[owner]; ok {
		return s, nil
	}
	a := b.acc[owner]
	if a == nil {
		return nil, fmt.Errorf("statistics of %s's input were already released", owner)
	}
	s, err := a.TakeStats()
	if err != nil {
		return nil, err
	}
	delete(b.acc, owner) // its Gram storage now belongs to s.H
	b.cache[owner] = s
	return s, nil
}

// done records that proj's layer no longer needs its input's statistics;
// when the last layer sharing them is done they are dropped, so that a
// block never holds more than the H matrices still in use.
func (b *blockStats) done(proj string) {
	owner := inputOwner[proj]
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.users[owner]--; b.users[owner] == 0 {
		delete(b.cache, owner)
	}
}

// Float is a float64 that encodes NaN and ±Inf as JSON null.
type Float = jsonfloat.Float

// CollectStats runs the calibration windows through the unpruned model m
// block by block (the dense protocol) and returns the statistics of the
// input of every linear layer named in names (all when names is empty),
// with the full H when full is set. Only the blocks up to the last one
// needed are run.
func CollectStats(m *model.Model, windows [][]int, names []string, full bool, chunk int) (map[string]*methods.Stats, error) {
	if m == nil {
		return nil, fmt.Errorf("collect stats: nil model")
	}
	if len(windows) == 0 {
		return nil, fmt.Errorf("collect stats: no calibration windows")
	}
	if chunk <= 0 {
		chunk = 8
	}
	if len(names) == 0 {
		names = m.Weights().LinearNames()
	}
	want := map[int][]string{}
	last := -1
	for _, n := range names {
		i, _, err := model.ParseLinearName(n)
		if err != nil {
			return nil, err
		}
		if i >= m.Config().NLayers {
			return nil, fmt.Errorf("collect stats: %s: the model has %d layers", n, m.Config().NLayers)
		}
		want[i] = append(want[i], n)
		last = max(last, i)
	}
	var hs []*model.Batch
	for c0 := 0; c0 < len(windows); c0 += chunk {
		h, err := m.Embed(windows[c0:min(len(windows), c0+chunk)])
		if err != nil {
			return nil, fmt.Errorf("collect stats: calibration windows %d..: %w", c0, err)
		}
		hs = append(hs, h)
	}
	out := map[string]*methods.Stats{}
	for i := 0; i <= last; i++ {
		acc := newBlockStats(m.Config(), full, methods.Float64)
		var obs model.Observer
		if len(want[i]) > 0 {
			obs = acc.observe
		}
		for c, h := range hs {
			next, err := m.Block(i, h, obs)
			if err != nil {
				return nil, fmt.Errorf("collect stats: block %d: %w", i, err)
			}
			if acc.err != nil {
				return nil, fmt.Errorf("collect stats: block %d: %w", i, acc.err)
			}
			hs[c] = next
		}
		for _, n := range want[i] {
			_, proj, _ := model.ParseLinearName(n)
			s, err := acc.stats(proj)
			if err != nil {
				return nil, fmt.Errorf("collect stats: %s: %w", n, err)
			}
			out[n] = s
		}
	}
	return out, nil
}
