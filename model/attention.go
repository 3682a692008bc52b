package model

import (
	"math"
	"runtime"
	"sync"
)

// kvCache holds the rotated keys and the values of the first n positions
// of one sequence at one layer, n rows of KVDim each.
type kvCache struct {
	k, v []float32
	n    int
}

// attnChunk is the number of query rows whose scores are computed together.
const attnChunk = 64

// attnJob describes the causal attention of one sequence: n new query rows
// at positions start..start+n−1 (q, n × Dim, already rotated) attend to the
// m = start+n key/value rows k, v (m × KVDim) and write n × Dim rows to out.
type attnJob struct {
	q, k, v, out []float32
	n, start     int
}

// attend runs grouped-query causal attention for all jobs, parallel over
// (job, head). Query head h uses key/value head h / (NHeads/NKVHeads). For
// query row r, score_j = q·k_j / sqrt(headDim) for j ≤ start+r (later keys
// are masked), p = softmax(score) (normaliser summed in float64) and
// out = Σ_j p_j v_j. Both products go through blas32.Gemm on strided views
// of the head's columns.
func attend(cfg Config, jobs []attnJob) {
	hd, dim, kvDim := cfg.HeadDim(), cfg.Dim, cfg.KVDim()
	group := cfg.NHeads / cfg.NKVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	type task struct{ job, head int }
	tasks := make(chan task)
	workers := min(runtime.GOMAXPROCS(0), len(jobs)*cfg.NHeads)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scores []float32
			for t := range tasks {
				j := jobs[t.job]
				g := t.head / group
				// Query rows go in chunks so that a chunk's products skip
				// the keys that every row of the chunk has masked.
				for r0 := 0; r0 < j.n; r0 += attnChunk {
					r1 := min(j.n, r0+attnChunk)
					rows, m := r1-r0, j.start+r1
					if cap(scores) < rows*m {
						scores = make([]float32, rows*m)
					}
					s := scores[:rows*m]
					gemmNT(j.q[r0*dim+t.head*hd:], rows, hd, dim, j.k[g*hd:], m, kvDim, s, m)
					for r := 0; r < rows; r++ {
						row := s[r*m : (r+1)*m]
						visible := j.start + r0 + r + 1
						for c := range row[:visible] {
							row[c] *= scale
						}
						softmaxRow(row, visible)
					}
					gemmNN(s, rows, m, m, j.v[g*hd:], hd, kvDim, j.out[r0*dim+t.head*hd:], dim)
				}
			}
		}()
	}
	for jb := range jobs {
		for h := 0; h < cfg.NHeads; h++ {
			tasks <- task{jb, h}
		}
	}
	close(tasks)
	wg.Wait()
}
