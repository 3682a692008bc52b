package methods

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelFor calls f(k) for k = 0..n−1 on up to threads goroutines. Each k
// must write only memory of its own, so results do not depend on threads or
// scheduling: reductions are done inside one f(k) in a fixed order.
func parallelFor(n, threads int, f func(k int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if threads > n {
		threads = n
	}
	if threads <= 1 {
		for k := 0; k < n; k++ {
			f(k)
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
				f(k)
			}
		}()
	}
	wg.Wait()
}
