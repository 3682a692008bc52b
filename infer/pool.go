package infer

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// threads is how many goroutines (the caller included) an Apply uses.
var threads atomic.Int32

// SetThreads sets how many goroutines, the caller included, each Apply
// uses (n ≤ 0: GOMAXPROCS) and returns the previous setting. Results do not
// depend on it.
func SetThreads(n int) int {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return int(threads.Swap(int32(n)))
}

// Threads returns the current setting of SetThreads.
func Threads() int {
	if n := threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// rowKernel computes a range of a layer's outputs.
type rowKernel interface {
	dims() (out, in int)
	// rows sets y[t·out + o] for o = o0 … o1−1 and the ntok tokens t of
	// x (row stride in).
	rows(o0, o1 int, x []float32, ntok int, y []float32)
}

// Work is split into tasks of rowChunk outputs × tokTile tokens; tasks of
// one token tile are consecutive so the tile stays in cache while the
// weights stream past it.
const (
	rowChunk = 32
	tokTile  = 8
)

// job is one parallel application of a rowKernel.
type job struct {
	k            rowKernel
	x, y         []float32
	ntok, chunks int
	n            int64
	next         atomic.Int64
	wg           sync.WaitGroup
}

// drain runs tasks until none are left.
func (j *job) drain() {
	out, in := j.k.dims()
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		tile, c := int(i)/j.chunks, int(i)%j.chunks
		t0 := tile * tokTile
		nt := min(tokTile, j.ntok-t0)
		o0 := c * rowChunk
		j.k.rows(o0, min(o0+rowChunk, out), j.x[t0*in:(t0+nt)*in], nt, j.y[t0*out:(t0+nt)*out])
	}
}

var (
	workCh    = make(chan *job)
	workersMu sync.Mutex
	workers   int
	jobs      freeList[job]
)

// ensureWorkers starts background workers until there are n.
func ensureWorkers(n int) {
	workersMu.Lock()
	defer workersMu.Unlock()
	for ; workers < n; workers++ {
		go func() {
			for j := range workCh {
				j.drain()
				j.wg.Done()
			}
		}()
	}
}

// applyRows computes y = k(x) for ntok tokens on Threads() goroutines.
func applyRows(k rowKernel, x []float32, ntok int, y []float32) {
	out, _ := k.dims()
	j := jobs.get()
	j.k, j.x, j.y, j.ntok = k, x, y, ntok
	j.chunks = (out + rowChunk - 1) / rowChunk
	j.n = int64(j.chunks * ((ntok + tokTile - 1) / tokTile))
	j.next.Store(0)
	helpers := min(Threads(), int(j.n)) - 1
	if helpers > 0 {
		ensureWorkers(helpers)
		j.wg.Add(helpers)
		for range helpers {
			workCh <- j
		}
	}
	j.drain()
	j.wg.Wait()
	j.k, j.x, j.y = nil, nil, nil
	jobs.put(j)
}

// freeList recycles values without allocating once warm (unlike
// sync.Pool, a garbage collection does not empty it).
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.items); n > 0 {
		v := f.items[n-1]
		f.items = f.items[:n-1]
		return v
	}
	return new(T)
}

func (f *freeList[T]) put(v *T) {
	f.mu.Lock()
	f.items = append(f.items, v)
	f.mu.Unlock()
}

// scratch is a reusable float32 buffer.
type scratch struct{ v []float32 }

var scratches freeList[scratch]

// getScratch returns a buffer of n values (contents undefined).
func getScratch(n int) *scratch {
	s := scratches.get()
	if cap(s.v) < n {
		s.v = make([]float32, n)
	}
	s.v = s.v[:n]
	return s
}
