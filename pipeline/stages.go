package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// The staged pipeline splits Prune into three steps that can run as
// separate processes (on different machines sharing a file system) and
// together give exactly Prune's result:
//
//	Calibrate   statistics of every linear layer → one file per block
//	PruneShard  prune shard i of n of the layers from those files → one file per layer
//	Assemble    the pruned model from the layer files
//
// Under the dense protocol every block's statistics come from the unpruned
// model, so one Calibrate run serves all layers, and the shards run in
// parallel. Under the sequential protocol block k's statistics depend on
// the pruned blocks < k: Calibrate runs once per block (CalibrateOptions.Block)
// on the parts of the blocks before it, and only the seven layers of one
// block can be pruned in parallel.

// CalibrateOptions configure Calibrate.
type CalibrateOptions struct {
	// Model is the model's path (recorded) and ModelID its identity
	// (ModelID(Model)).
	Model, ModelID string
	// Settings: Protocol, Corpus, Tokenizer, Windows, Length, FullH and
	// Gram are recorded as given; Chunk (default 8) and Tokens are filled in.
	Settings    CalibrationSettings
	Calibration [][]int
	// Block is the one block to calibrate under the sequential protocol,
	// on the pruned blocks < Block read from Parts. Under the dense
	// protocol it must be -1 (every block).
	Block int
	Parts string
	Log   func(format string, args ...any)
}

// Calibrate writes the statistics of m's blocks into dir (created if
// needed), one file per block (StatsFile), each written atomically, and
// returns the files written.
func Calibrate(m *model.Model, dir string, opt CalibrateOptions) ([]string, error) {
	start := time.Now()
	if m == nil {
		return nil, fmt.Errorf("calibrate: nil model")
	}
	if len(opt.Calibration) == 0 {
		return nil, fmt.Errorf("calibrate: no calibration windows")
	}
	cfg := m.Config()
	st := opt.Settings
	if _, err := ParseProtocol(string(st.Protocol)); err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	if st.Chunk <= 0 {
		st.Chunk = 8
	}
	if st.Gram == "" {
		st.Gram = methods.Float64
	}
	if !st.FullH {
		st.Gram = methods.Float64 // no Gram products at all
	}
	st.Tokens = tokensDigest(opt.Calibration)
	logf := opt.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	first, last := 0, cfg.NLayers-1
	pm := m
	var upstream *Upstream
	switch st.Protocol {
	case ProtocolDense:
		if opt.Block != -1 {
			return nil, fmt.Errorf("calibrate: the dense protocol calibrates every block in one pass; --block is for the sequential protocol")
		}
	case ProtocolSequential:
		if opt.Block < 0 || opt.Block >= cfg.NLayers {
			return nil, fmt.Errorf("calibrate: the sequential protocol calibrates one block at a time, on the pruned blocks before it: give a block 0..%d (got %d)", cfg.NLayers-1, opt.Block)
		}
		first, last = opt.Block, opt.Block
		if opt.Block > 0 {
			var err error
			if pm, upstream, err = applyUpstream(m, opt.Parts, opt.Block, opt.ModelID, st); err != nil {
				return nil, err
			}
		}
	}
	if files, ok := statsComplete(dir, first, last, opt.ModelID, st, upstream); ok {
		logf("%s already holds these statistics of blocks %d..%d; nothing to do", dir, first, last)
		return files, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	hs, rows, err := embedChunks(pm, opt.Calibration, st.Chunk)
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	for i := 0; i < first; i++ { // sequential: through the pruned blocks
		for c, h := range hs {
			if hs[c], err = pm.Block(i, h, nil); err != nil {
				return nil, fmt.Errorf("calibrate: block %d: %w", i, err)
			}
		}
	}
	var written []string
	for i := first; i <= last; i++ {
		t0 := time.Now()
		acc := newBlockStats(cfg, st.FullH, st.Gram)
		for c, h := range hs {
			next, err := pm.Block(i, h, acc.observe)
			if err != nil {
				return nil, fmt.Errorf("calibrate: block %d: %w", i, err)
			}
			if acc.err != nil {
				return nil, fmt.Errorf("calibrate: block %d: %w", i, acc.err)
			}
			hs[c] = next
		}
		stats := map[string]*methods.Stats{}
		for _, owner := range statsOwners {
			if stats[owner], err = acc.stats(owner); err != nil {
				return nil, fmt.Errorf("calibrate: block %d %s: %w", i, owner, err)
			}
		}
		path := StatsFile(dir, i)
		hdr := StatsHeader{Format: StatsFormat, Model: opt.Model, ModelID: opt.ModelID, Settings: st,
			Block: i, NBlocks: cfg.NLayers, Rows: rows, Seconds: time.Since(start).Seconds(), Upstream: upstream}
		if err := writeStatsFile(path, hdr, stats); err != nil {
			return nil, err
		}
		written = append(written, path)
		logf("block %d/%d calibrated (%s protocol) in %.1fs: %s", i+1, cfg.NLayers, st.Protocol, time.Since(t0).Seconds(), path)
		start = time.Now() // each file records its own block's time
	}
	return written, nil
}

// statsComplete reports whether dir already holds statistics of blocks
// first..last of this model with these settings (and upstream), so that a
// resubmitted calibration need not run again. Only headers are read (a
// truncated file fails that); the seals are checked when a shard reads them.
func statsComplete(dir string, first, last int, modelID string, st CalibrationSettings, up *Upstream) ([]string, bool) {
	var files []string
	for i := first; i <= last; i++ {
		p := StatsFile(dir, i)
		h, err := readStatsHeader(p)
		if err != nil || h.ModelID != modelID || h.Block != i || !reflect.DeepEqual(h.Settings, st) || !reflect.DeepEqual(h.Upstream, up) {
			return nil, false
		}
		files = append(files, p)
	}
	return files, true
}

// embedChunks embeds the calibration windows chunk by chunk, as Prune does.
func embedChunks(m *model.Model, windows [][]int, chunk int) ([]*model.Batch, int, error) {
	var hs []*model.Batch
	rows := 0
	for c0 := 0; c0 < len(windows); c0 += chunk {
		h, err := m.Embed(windows[c0:min(len(windows), c0+chunk)])
		if err != nil {
			return nil, 0, fmt.Errorf("calibration windows %d..: %w", c0, err)
		}
		hs = append(hs, h)
		rows += h.Rows()
	}
	return hs, rows, nil
}

// applyUpstream returns a copy of m with the pruned layers of blocks < k
// read from partsDir, and their identity. The parts must all come from
// statistics of this model and settings, pruned with the same method.
func applyUpstream(m *model.Model, partsDir string, k int, modelID string, st CalibrationSettings) (*model.Model, *Upstream, error) {
	if partsDir == "" {
		return nil, nil, fmt.Errorf("calibrate: block %d under the sequential protocol is calibrated on the pruned blocks 0..%d: give their parts directory (--parts)", k, k-1)
	}
	w := shareWeights(m.Weights())
	var names []string
	for _, n := range w.LinearNames() {
		if i, _, _ := model.ParseLinearName(n); i < k {
			names = append(names, n)
		}
	}
	parts, err := readParts(w, partsDir, names)
	if err != nil {
		return nil, nil, fmt.Errorf("calibrate block %d: %w", k, err)
	}
	seals := map[string]string{}
	var ms *MethodSettings
	for _, n := range names {
		p := parts[n]
		if err := checkPartCalibration(PartFile(partsDir, n), p, modelID, st); err != nil {
			return nil, nil, fmt.Errorf("calibrate block %d: %w", k, err)
		}
		if ms == nil {
			ms = &p.hdr.Settings
		} else if !reflect.DeepEqual(*ms, p.hdr.Settings) {
			return nil, nil, fmt.Errorf("calibrate block %d: %s was pruned with other settings than %s (%s)", k, PartFile(partsDir, n), PartFile(partsDir, names[0]), settingsDiff(*ms, p.hdr.Settings))
		}
		if err := w.SetLinear(n, p.lin); err != nil {
			return nil, nil, err
		}
		seals[n] = p.seal
	}
	pm, err := model.New(m.Config(), w)
	if err != nil {
		return nil, nil, err
	}
	return pm, &Upstream{Method: *ms, Parts: partsDigest(names, seals)}, nil
}

// readParts reads the parts of the named layers of w; one error lists
// every missing layer and every damaged file.
func readParts(w *model.Weights, dir string, names []string) (map[string]*part, error) {
	out := map[string]*part{}
	var missing, damaged []string
	for _, n := range names {
		lin, err := w.Linear(n)
		if err != nil {
			return nil, err
		}
		p, err := readPartFile(PartFile(dir, n), lin)
		switch {
		case isNotExist(err):
			missing = append(missing, n)
		case err != nil:
			damaged = append(damaged, err.Error())
		default:
			out[n] = p
		}
	}
	var msg []string
	if len(missing) > 0 {
		msg = append(msg, fmt.Sprintf("parts directory %s lacks %d of %d layers: %s (expected files like %s; prune them with armor prune --stats ... --out %s)",
			dir, len(missing), len(names), summarizeNames(missing), PartFile(dir, missing[0]), dir))
	}
	if len(damaged) > 0 {
		msg = append(msg, fmt.Sprintf("%d damaged parts (rerun their prune shard to redo them): %s", len(damaged), strings.Join(damaged, "; ")))
	}
	if len(msg) > 0 {
		return nil, errors.New(strings.Join(msg, "; "))
	}
	return out, nil
}

// summarizeNames lists names, eliding the middle of a long list.
func summarizeNames(names []string) string {
	if len(names) <= 12 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:6], ", ") + fmt.Sprintf(", … (%d more) …, ", len(names)-10) + strings.Join(names[len(names)-4:], ", ")
}

// checkPartCalibration checks that part p (file path) was pruned from
// statistics of the model modelID with calibration settings st.
func checkPartCalibration(path string, p *part, modelID string, st CalibrationSettings) error {
	if p.hdr.ModelID != modelID {
		return fmt.Errorf("%s was pruned from statistics of another model (model id %.16s…, this model %.16s…)", path, p.hdr.ModelID, modelID)
	}
	if !reflect.DeepEqual(p.hdr.Calibration, st) {
		return fmt.Errorf("%s was pruned from statistics with other calibration settings (%s)", path, settingsDiff(p.hdr.Calibration, st))
	}
	return nil
}

// ShardOptions configure PruneShard.
type ShardOptions struct {
	Method string
	Config methods.Config
	// Protocol is the protocol the run asks for ("": the method's default);
	// the statistics must have been calibrated with it.
	Protocol Protocol
	// Hessian asks for every layer's output error from the full H; when
	// HessianSet is false it follows the statistics (FullH).
	Hessian, HessianSet bool
	// Shard i of Shards (0 ≤ i < n) of the layers of the blocks in the
	// statistics directory (LayerShards).
	Shard, Shards int
	// Workers is how many layers are pruned at once (≤ 0: the number of
	// CPUs); results do not depend on it.
	Workers int
	// MaxMemory is Options.MaxMemory: a budget for the working sets of the
	// layers pruned at once when Workers is unset.
	MaxMemory int64
	Log       func(format string, args ...any)
}

// ShardResult says what PruneShard did.
type ShardResult struct {
	// Layers are the shard's layers; Pruned those pruned now, Skipped those
	// whose part was already complete; Redone the damaged parts replaced.
	Layers, Pruned, Skipped, Redone []string
}

// statsSet is a checked statistics directory.
type statsSet struct {
	dir      string
	files    map[int]string // block → path
	headers  map[int]*StatsHeader
	settings CalibrationSettings
}

// openStats reads the headers of every block file in dir and checks them
// against the model (cfg, modelID) and against each other.
func openStats(dir string, cfg model.Config, modelID string) (*statsSet, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "block-*.safetensors"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("statistics: %w", err)
		}
		return nil, fmt.Errorf("statistics directory %s holds no block-*.safetensors files (run armor calibrate --out %s first)", dir, dir)
	}
	sort.Strings(paths)
	s := &statsSet{dir: dir, files: map[int]string{}, headers: map[int]*StatsHeader{}}
	for k, p := range paths {
		h, err := readStatsHeader(p)
		if err != nil {
			return nil, err
		}
		switch {
		case h.ModelID != modelID:
			return nil, fmt.Errorf("%s: statistics of another model (calibrated from %s, model id %.16s…; the given model has id %.16s…)", p, h.Model, h.ModelID, modelID)
		case h.NBlocks != cfg.NLayers || h.Block < 0 || h.Block >= cfg.NLayers:
			return nil, fmt.Errorf("%s: block %d of a %d-block model, but the model has %d blocks", p, h.Block, h.NBlocks, cfg.NLayers)
		case p != StatsFile(dir, h.Block):
			return nil, fmt.Errorf("%s: holds block %d; its file name must be %s", p, h.Block, filepath.Base(StatsFile(dir, h.Block)))
		}
		if k == 0 {
			s.settings = h.Settings
		} else if !reflect.DeepEqual(h.Settings, s.settings) {
			return nil, fmt.Errorf("%s: calibrated with other settings than %s (%s); one statistics directory must hold one calibration", p, paths[0], settingsDiff(h.Settings, s.settings))
		}
		s.files[h.Block], s.headers[h.Block] = p, h
	}
	return s, nil
}

// blocks lists the blocks present, in order.
func (s *statsSet) blocks() []int {
	var out []int
	for b := range s.files {
		out = append(out, b)
	}
	sort.Ints(out)
	return out
}

// LayerShards assigns the linear layers of the given blocks to n shards,
// deterministically: block by block, each block's seven layers go largest
// first (d_out·d_in, then forward order) to the shard with the least work of
// that block so far, ties broken by a shard order rotated by 7 per block, so
// that the blocks' largest layers spread over the shards. It returns the
// layer names of each shard, in forward order.
func LayerShards(w *model.Weights, blocks []int, n int) [][]string {
	out := make([][]string, n)
	for _, b := range blocks {
		type layer struct {
			k    int
			name string
			size int
		}
		var ls []layer
		for k, p := range model.Projections {
			name := model.LinearName(b, p)
			l, _ := w.Linear(name)
			ls = append(ls, layer{k, name, l.Out * l.In})
		}
		sort.SliceStable(ls, func(i, j int) bool { return ls[i].size > ls[j].size })
		load := make([]int, n)
		pick := make([]string, len(model.Projections))
		shardOf := make([]int, len(model.Projections))
		for _, l := range ls {
			best := -1
			for r := 0; r < n; r++ {
				s := (r + 7*b) % n
				if best < 0 || load[s] < load[best] {
					best = s
				}
			}
			load[best] += l.size
			pick[l.k], shardOf[l.k] = l.name, best
		}
		for k := range pick {
			out[shardOf[k]] = append(out[shardOf[k]], pick[k])
		}
	}
	return out
}

// PruneShard prunes shard opt.Shard of opt.Shards of the layers of the
// blocks whose statistics are in statsDir and writes one part per layer
// into partsDir (PartFile), each atomically as soon as it is done. Layers
// whose part is already complete (same model, statistics and method
// settings) are skipped; a damaged part is pruned again; a part from other
// settings is refused. modelID is ModelID of m's path.
func PruneShard(m *model.Model, modelID, statsDir, partsDir string, opt ShardOptions) (*ShardResult, error) {
	if m == nil {
		return nil, fmt.Errorf("prune shard: nil model")
	}
	if opt.Shards < 1 || opt.Shard < 0 || opt.Shard >= opt.Shards {
		return nil, fmt.Errorf("prune shard: shard %d of %d: want 0 ≤ i < n", opt.Shard, opt.Shards)
	}
	cfg := m.Config()
	ss, err := openStats(statsDir, cfg, modelID)
	if err != nil {
		return nil, err
	}
	first := ss.files[ss.blocks()[0]]
	proto := opt.Protocol
	if proto == "" {
		proto = DefaultProtocol(opt.Method)
	}
	if ss.settings.Protocol != proto {
		how := "asked for"
		if opt.Protocol == "" {
			how = "is " + opt.Method + "'s default"
		}
		return nil, fmt.Errorf("%s: calibrated with the %s protocol, but %s %s (pass --protocol %s, or calibrate with --protocol %s)",
			first, ss.settings.Protocol, proto, how, ss.settings.Protocol, proto)
	}
	hessian := opt.Hessian
	if !opt.HessianSet {
		hessian = ss.settings.FullH
	}
	needH := hessian || opt.Method == "sparsegpt"
	gram := methods.Float64
	if opt.Method == "sparsegpt" && opt.Config.SparseGPT.Precision == methods.Float32 {
		gram = methods.Float32
	}
	switch {
	case needH && !ss.settings.FullH:
		why := "layer output errors need it"
		if opt.Method == "sparsegpt" {
			why = "sparsegpt needs it"
		}
		return nil, fmt.Errorf("%s: calibrated without the full H, but %s (calibrate with --full-h, or prune with --layer-errors=false)", first, why)
	case needH && ss.settings.Gram != gram:
		return nil, fmt.Errorf("%s: H was accumulated with %s Gram products, but %s with precision %s uses %s ones (calibrate with --method %s --precision %s)",
			first, ss.settings.Gram, opt.Method, opt.Config.SparseGPT.Precision, gram, opt.Method, opt.Config.SparseGPT.Precision)
	}
	for _, p := range []struct {
		name string
		d    int
	}{{"dim", cfg.Dim}, {"hidden_dim", cfg.HiddenDim}} {
		if err := opt.Config.Pattern.Check(p.d); err != nil {
			return nil, fmt.Errorf("prune shard: model %s %d: %w", p.name, p.d, err)
		}
	}
	settings := newMethodSettings(opt.Method, proto, opt.Config, hessian)
	for _, b := range ss.blocks() {
		if up := ss.headers[b].Upstream; up != nil && !reflect.DeepEqual(up.Method, settings) {
			return nil, fmt.Errorf("%s: block %d was calibrated on blocks pruned with other settings than this run's (%s)", ss.files[b], b, settingsDiff(up.Method, settings))
		}
	}
	workers := chooseWorkers(opt.Workers, opt.MaxMemory, cfg, opt.Method, opt.Config, needH)
	mcfg := opt.Config
	if workers > 1 {
		mcfg.ARMOR.Threads = 1
	}
	meth, err := methods.New(opt.Method, mcfg)
	if err != nil {
		return nil, err
	}
	logf := opt.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(partsDir, 0o755); err != nil {
		return nil, fmt.Errorf("prune shard: %w", err)
	}
	res := &ShardResult{Layers: LayerShards(m.Weights(), ss.blocks(), opt.Shards)[opt.Shard]}
	w := m.Weights()
	todo := map[int][]string{} // block → layers to prune
	for _, name := range res.Layers {
		b, _, _ := model.ParseLinearName(name)
		path := PartFile(partsDir, name)
		lin, _ := w.Linear(name)
		p, err := readPartFile(path, lin)
		switch {
		case isNotExist(err):
			todo[b] = append(todo[b], name)
		case err != nil:
			logf("%s: damaged (%v); pruning %s again", path, err, name)
			res.Redone = append(res.Redone, name)
			todo[b] = append(todo[b], name)
		case !reflect.DeepEqual(p.hdr.Settings, settings):
			return nil, fmt.Errorf("%s: already holds %s pruned with other settings (%s); remove it or write to another --out", path, name, settingsDiff(p.hdr.Settings, settings))
		default:
			if err := checkPartCalibration(path, p, modelID, ss.settings); err != nil {
				return nil, fmt.Errorf("%w; remove it or write to another --out", err)
			}
			res.Skipped = append(res.Skipped, name)
		}
	}
	for _, b := range ss.blocks() {
		if len(todo[b]) == 0 {
			continue
		}
		t0 := time.Now()
		stats, hdr, seal, err := readStatsFile(ss.files[b], needH, ownerDims(cfg))
		if err != nil {
			return nil, err
		}
		if !reflect.DeepEqual(*hdr, *ss.headers[b]) {
			return nil, fmt.Errorf("%s: changed while this run was reading it", ss.files[b])
		}
		acc := loadedBlockStats(stats, todo[b])
		base := PartHeader{Format: PartFormat, Settings: settings, ModelID: modelID, Calibration: ss.settings,
			CalibrationRows: hdr.Rows, CalSeconds: hdr.Seconds, StatsSeal: seal, Upstream: hdr.Upstream}
		err = forEachLayer(todo[b], workers, func(name string) error {
			rep, lin, fac, err := pruneLayer(w, name, meth, acc)
			if err != nil {
				return err
			}
			p := &part{hdr: base, lin: lin, fac: fac}
			p.hdr.Layer = rep
			if err := writePartFile(PartFile(partsDir, name), p); err != nil {
				return err
			}
			logf("%s %s: proxy loss %.4f, output error %.4f, %.2fs", opt.Method, name, float64(rep.ProxyLoss), float64(rep.OutputError), rep.Seconds)
			return nil
		})
		if err != nil {
			return nil, err
		}
		res.Pruned = append(res.Pruned, todo[b]...)
		logf("block %d: %d layers of shard %d/%d pruned in %.1fs", b, len(todo[b]), opt.Shard, opt.Shards, time.Since(t0).Seconds())
	}
	return res, nil
}

// loadedBlockStats serves statistics read from a file to the given layers
// of one block, dropping each input's statistics once its last layer there
// is done (as Prune does).
func loadedBlockStats(stats map[string]*methods.Stats, names []string) *blockStats {
	b := &blockStats{cache: stats, users: map[string]int{}}
	for _, n := range names {
		_, proj, _ := model.ParseLinearName(n)
		b.users[inputOwner[proj]]++
	}
	return b
}

// forEachLayer runs f on every name, up to workers at once, largest
// layers first is the caller's business; it returns the first error in
// names' order.
func forEachLayer(names []string, workers int, f func(string) error) error {
	errs := make([]error, len(names))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for k := 0; k < min(workers, len(names)); k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				errs[j] = f(names[j])
			}
		}()
	}
	for j := range names {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Assembled is a model put together from its layer parts, with what the
// report needs to know about how they were made.
type Assembled struct {
	*Pruned
	Settings    MethodSettings
	Calibration CalibrationSettings
}

// Assemble reads the part of every linear layer of m from partsDir and
// returns the pruned model, exactly as Prune would have returned it (m is
// not modified). Every layer must have a complete part made from
// statistics of this model (modelID) with one calibration and one method
// setting; under the sequential protocol each block's parts must have been
// calibrated on the parts of the blocks before it that are in partsDir.
func Assemble(m *model.Model, modelID, partsDir string) (*Assembled, error) {
	if m == nil {
		return nil, fmt.Errorf("assemble: nil model")
	}
	cfg := m.Config()
	w := shareWeights(m.Weights())
	names := w.LinearNames()
	parts, err := readParts(w, partsDir, names)
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	p0 := parts[names[0]].hdr
	firstPath := PartFile(partsDir, names[0])
	if p0.ModelID != modelID {
		return nil, fmt.Errorf("assemble: %s was pruned from statistics of another model (model id %.16s…, this model %.16s…)", firstPath, p0.ModelID, modelID)
	}
	seals := map[string]string{}
	out := &Assembled{Settings: p0.Settings, Calibration: p0.Calibration, Pruned: &Pruned{
		Method: p0.Settings.Method, Protocol: p0.Settings.Protocol, Pattern: p0.Settings.Config.Pattern,
		CalibrationRows: p0.CalibrationRows,
	}}
	calSeconds := map[string]float64{}
	for _, n := range names {
		p, path := parts[n], PartFile(partsDir, n)
		if err := checkPartCalibration(path, p, modelID, p0.Calibration); err != nil {
			return nil, fmt.Errorf("assemble: %w (first part: %s)", err, firstPath)
		}
		if !reflect.DeepEqual(p.hdr.Settings, p0.Settings) {
			return nil, fmt.Errorf("assemble: %s was pruned with other settings than %s (%s)", path, firstPath, settingsDiff(p.hdr.Settings, p0.Settings))
		}
		if p.hdr.Layer.Name != n {
			return nil, fmt.Errorf("assemble: %s holds layer %q, want %s", path, p.hdr.Layer.Name, n)
		}
		if err := w.SetLinear(n, p.lin); err != nil {
			return nil, fmt.Errorf("assemble: %s: %w", path, err)
		}
		if p.fac != nil {
			if out.Factors == nil {
				out.Factors = map[string]*Factored{}
			}
			out.Factors[n] = p.fac
		}
		seals[n] = p.seal
		out.Layers = append(out.Layers, p.hdr.Layer)
		out.Seconds += p.hdr.Layer.Seconds
		calSeconds[p.hdr.StatsSeal] = p.hdr.CalSeconds
	}
	for _, s := range calSeconds {
		out.Seconds += s
	}
	if out.Protocol == ProtocolSequential {
		// Block k's statistics must come from the parts of blocks < k here.
		for k := 1; k < cfg.NLayers; k++ {
			want := partsDigest(names[:7*k], seals)
			n := model.LinearName(k, model.ProjQ)
			up := parts[n].hdr.Upstream
			if up == nil || up.Parts != want {
				return nil, fmt.Errorf("assemble: %s: block %d was calibrated on other pruned blocks 0..%d than the parts in %s (were they pruned again after block %d was calibrated?)", PartFile(partsDir, n), k, k-1, partsDir, k)
			}
		}
	}
	if out.Model, err = model.New(cfg, w); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	out.Params = CountParams(cfg, w, out.Layers)
	return out, nil
}

// Report is the report.json of the assembled model, as NewReport writes
// it for a single-process run of the same settings (eval fields left to
// the caller, as there).
func (a *Assembled) Report(modelPath string) *Report {
	r := NewReport(modelPath, a.Pruned, Options{Config: a.Settings.Config})
	r.CalCorpus, r.CalWin, r.CalLen = a.Calibration.Corpus, a.Calibration.Windows, a.Calibration.Length
	return r
}

// ReadCalibrationSettings returns the first statistics file in dir and its
// calibration settings.
func ReadCalibrationSettings(dir string) (string, CalibrationSettings, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "block-*.safetensors"))
	if err != nil {
		return "", CalibrationSettings{}, err
	}
	if len(paths) == 0 {
		return "", CalibrationSettings{}, fmt.Errorf("statistics directory %s holds no block-*.safetensors files", dir)
	}
	sort.Strings(paths)
	h, err := readStatsHeader(paths[0])
	if err != nil {
		return "", CalibrationSettings{}, err
	}
	return paths[0], h.Settings, nil
}
