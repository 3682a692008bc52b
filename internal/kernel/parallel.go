package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// For calls f(k) for k = 0..n−1 on up to threads goroutines. Each k
// must write only memory of its own, so results do not depend on threads or
// scheduling: reductions are done inside one f(k) in a fixed order.
func For(n, threads int, f func(k int)) {
	ForWorker(n, threads, func(_, k int) { f(k) })
}

// Workers is the number of goroutines For(n, threads, …) uses: threads
// (all cores when ≤ 0), at most n, at least 1.
func Workers(n, threads int) int {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return max(1, min(threads, n))
}

// ForWorker is For that also passes f the index w of the
// goroutine running it, 0 ≤ w < Workers(n, threads), so that f can use
// per-goroutine scratch space. Which w runs which k depends on scheduling,
// so scratch must not carry results from one k to another.
func ForWorker(n, threads int, f func(w, k int)) {
	threads = Workers(n, threads)
	if threads <= 1 {
		for k := 0; k < n; k++ {
			f(0, k)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(threads)
	for t := 0; t < threads; t++ {
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= n {
					return
				}
				f(t, k)
			}
		}()
	}
	wg.Wait()
}
