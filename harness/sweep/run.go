package sweep

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/source"
	"github.com/prunebench/armor/methods"
)

// Options control Run.
type Options struct {
	// Experiment is recorded in every cell.
	Experiment string
	// Workers is the number of cells run at once (≤ 0: all cores).
	Workers int
	// Shard and Shards select every Shards-th job starting at Shard
	// (Shards ≤ 1: all jobs).
	Shard, Shards int
	// Progress receives the progress display; Terminal selects a redrawn
	// bar with ETA instead of one line per cell.
	Progress io.Writer
	Terminal bool
	// MaxHistory bounds the stored history points (default 256).
	MaxHistory int
}

// Summary is what Run did.
type Summary struct {
	Planned, InShard, Skipped, Ran, Failed int
	Elapsed                                time.Duration
	Errors                                 []error
}

// Pending returns the jobs of the shard that are not in done.
func Pending(jobs []Job, done map[string]bool, shard, shards int) (pending []Job, inShard int) {
	for _, j := range jobs {
		if shards > 1 && j.Index%shards != shard {
			continue
		}
		inShard++
		if !done[j.Key] {
			pending = append(pending, j)
		}
	}
	return pending, inShard
}

// Run computes the jobs not in done and appends their cells to store. It
// stops taking new jobs when ctx is cancelled (the running ones finish and
// are stored). A failing cell does not stop the others; failures are listed
// in the summary and returned as an error.
func Run(ctx context.Context, src source.Source, jobs []Job, done map[string]bool, store *cells.Store, opt Options) (Summary, error) {
	start := time.Now()
	pending, inShard := Pending(jobs, done, opt.Shard, opt.Shards)
	// Longest first keeps the workers busy to the end; the order does not
	// change any number.
	sort.SliceStable(pending, func(a, b int) bool { return pending[a].cost() > pending[b].cost() })
	sum := Summary{Planned: len(jobs), InShard: inShard, Skipped: inShard - len(pending)}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	workers = max(1, min(workers, len(pending)))
	threads := 0
	if workers > 1 {
		threads = 1
	}
	if opt.MaxHistory <= 0 {
		opt.MaxHistory = 256
	}
	prog := newProgress(opt.Progress, opt.Terminal, pending, sum.Skipped)
	loader := newLoader(src)

	ch := make(chan Job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				c, err := runJob(loader, src, j, threads, opt)
				if err == nil {
					err = store.Append(c)
				}
				mu.Lock()
				if err != nil {
					sum.Failed++
					sum.Errors = append(sum.Errors, fmt.Errorf("%s: %w", j.Label(), err))
				} else {
					sum.Ran++
				}
				mu.Unlock()
				prog.done(j, c, err)
			}
		}()
	}
feed:
	for _, j := range pending {
		select {
		case ch <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	prog.finish()
	sum.Elapsed = time.Since(start)
	if len(sum.Errors) > 0 {
		msgs := make([]string, len(sum.Errors))
		for i, e := range sum.Errors {
			msgs[i] = e.Error()
		}
		return sum, fmt.Errorf("%d cell(s) failed:\n  %s", len(sum.Errors), strings.Join(msgs, "\n  "))
	}
	if ctx.Err() != nil {
		return sum, fmt.Errorf("interrupted after %d of %d pending cells; rerun the same command to resume", sum.Ran, len(pending))
	}
	return sum, nil
}

func runJob(ld *loader, src source.Source, j Job, threads int, opt Options) (*cells.Cell, error) {
	l, err := ld.load(j.Layer.Name)
	if err != nil {
		return nil, err
	}
	m, err := methods.New(j.Method, MethodConfig(j, threads))
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	res, err := m.Prune(l.Layer)
	if err != nil {
		return nil, err
	}
	secs := time.Since(t0).Seconds()
	c := &cells.Cell{
		Key: j.Key, Kind: "layer", Experiment: opt.Experiment,
		Source: src.Describe(), SourceKind: src.Kind(), Note: src.Note(),
		Layer: j.Layer.Name, LayerID: j.Layer.Identity, LayerOrder: j.LayerOrder, DOut: j.Layer.DOut, DIn: j.Layer.DIn,
		Method: j.Method, Pattern: j.Pattern.String(), Params: j.Params,
		ProxyLoss: cells.Float(res.ProxyLoss), OutputError: cells.Float(res.OutputError),
		NonzeroFraction: cells.Float(res.NonzeroFraction()), OverheadFraction: cells.Float(res.OverheadFraction()),
		Iterations: res.Iterations, StoppedEarly: res.StoppedEarly,
		Seconds: secs, Version: Version,
	}
	if len(res.History) > 0 {
		c.History, c.HistoryIters = cells.Downsample(res.History, opt.MaxHistory)
	}
	return c, nil
}

// loader loads each layer once and shares it between workers.
type loader struct {
	src source.Source
	mu  sync.Mutex
	m   map[string]*loadOnce
}

type loadOnce struct {
	once sync.Once
	l    *source.Layer
	err  error
}

func newLoader(src source.Source) *loader { return &loader{src: src, m: map[string]*loadOnce{}} }

func (ld *loader) load(name string) (*source.Layer, error) {
	ld.mu.Lock()
	e, ok := ld.m[name]
	if !ok {
		e = &loadOnce{}
		ld.m[name] = e
	}
	ld.mu.Unlock()
	e.once.Do(func() { e.l, e.err = ld.src.Load(name) })
	return e.l, e.err
}
