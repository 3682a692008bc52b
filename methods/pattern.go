package methods

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/prunebench/armor/internal/kernel"
)

// Pattern is an N:M semi-structured sparsity pattern along the input
// dimension: in every row, each aligned run of M consecutive input columns
// keeps exactly N non-zeros. The zero value is invalid; use Pattern24.
type Pattern struct {
	N, M int
}

// Pattern24 is the 2:4 pattern accelerated by sparse tensor cores.
var Pattern24 = Pattern{N: 2, M: 4}

// ParsePattern reads a pattern written "N:M", e.g. "2:4".
func ParsePattern(s string) (Pattern, error) {
	ns, ms, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Pattern{}, fmt.Errorf("pattern %q: want N:M, e.g. 2:4", s)
	}
	n, errN := strconv.Atoi(ns)
	m, errM := strconv.Atoi(ms)
	if errN != nil || errM != nil {
		return Pattern{}, fmt.Errorf("pattern %q: N and M must be integers", s)
	}
	p := Pattern{N: n, M: m}
	if err := p.Valid(); err != nil {
		return Pattern{}, err
	}
	return p, nil
}

// String writes the pattern as "N:M".
func (p Pattern) String() string { return fmt.Sprintf("%d:%d", p.N, p.M) }

// Valid reports whether 0 < N < M.
func (p Pattern) Valid() error {
	if p.M <= 0 || p.N <= 0 || p.N >= p.M {
		return fmt.Errorf("pattern %d:%d: need 0 < N < M", p.N, p.M)
	}
	return nil
}

// Check reports whether the pattern can be applied to a layer with dIn input
// columns: the pattern must be valid and dIn a multiple of M.
func (p Pattern) Check(dIn int) error {
	if err := p.Valid(); err != nil {
		return err
	}
	if dIn%p.M != 0 {
		return fmt.Errorf("d_in %d is not a multiple of M=%d (pattern %s)", dIn, p.M, p)
	}
	return nil
}

// Supports lists every choice of N kept positions among M, each in
// increasing order, the lists in lexicographic order ((0,1), (0,2), … for 2:4).
// The order fixes tie-breaking in ARMOR's sparse-core step.
func (p Pattern) Supports() [][]int {
	var out [][]int
	cur := make([]int, 0, p.N)
	var rec func(start int)
	rec = func(start int) {
		if len(cur) == p.N {
			out = append(out, append([]int(nil), cur...))
			return
		}
		for k := start; k <= p.M-(p.N-len(cur)); k++ {
			cur = append(cur, k)
			rec(k + 1)
			cur = cur[:len(cur)-1]
		}
	}
	rec(0)
	return out
}

// Mask is an N:M keep-mask over a d_out × d_in weight, row-major: Keep[i*Cols+j]
// is true when W[i, j] is kept.
type Mask struct {
	Rows, Cols int
	Keep       []bool
}

// NewMask returns an all-pruned mask.
func NewMask(rows, cols int) *Mask {
	return &Mask{Rows: rows, Cols: cols, Keep: make([]bool, rows*cols)}
}

// At reports whether entry (i, j) is kept.
func (m *Mask) At(i, j int) bool { return m.Keep[i*m.Cols+j] }

// Kept counts the kept entries.
func (m *Mask) Kept() int {
	n := 0
	for _, k := range m.Keep {
		if k {
			n++
		}
	}
	return n
}

// Uint8s returns the mask as bytes, 1 = kept, row-major.
func (m *Mask) Uint8s() []uint8 {
	out := make([]uint8, len(m.Keep))
	for i, k := range m.Keep {
		if k {
			out[i] = 1
		}
	}
	return out
}

// Satisfies reports the first row and group that does not keep exactly N of
// its M entries, as an error, or nil when the whole mask follows p.
func (m *Mask) Satisfies(p Pattern) error {
	if err := p.Check(m.Cols); err != nil {
		return err
	}
	for i := 0; i < m.Rows; i++ {
		for g := 0; g < m.Cols; g += p.M {
			n := 0
			for k := g; k < g+p.M; k++ {
				if m.Keep[i*m.Cols+k] {
					n++
				}
			}
			if n != p.N {
				return fmt.Errorf("row %d, columns %d..%d keep %d entries, want %d (pattern %s)", i, g, g+p.M-1, n, p.N, p)
			}
		}
	}
	return nil
}

// TopNMask keeps, in every row and every group of M columns, the N entries with
// the largest score (score has Rows*Cols entries, row-major). Ties go to the
// lower column index, so the result is deterministic.
func TopNMask(score []float64, rows, cols int, p Pattern) (*Mask, error) {
	if err := p.Check(cols); err != nil {
		return nil, err
	}
	if rows < 0 || len(score) != rows*cols {
		return nil, fmt.Errorf("score has %d entries, want %d×%d", len(score), rows, cols)
	}
	m := NewMask(rows, cols)
	// Rows are independent, so any split over goroutines gives the same mask.
	kernel.For(numChunks(rows, rowChunk), 0, func(c int) {
		idx := make([]int, p.M)
		for i := c * rowChunk; i < min((c+1)*rowChunk, rows); i++ {
			selectRow(score[i*cols:(i+1)*cols], m.Keep[i*cols:(i+1)*cols], p, idx)
		}
	})
	return m, nil
}

// rowChunk is how many rows one parallel task of the row-wise kernels
// handles: enough to amortize the task's scratch buffers, few enough to
// balance the load.
const rowChunk = 16

// numChunks is ⌈n/size⌉.
func numChunks(n, size int) int { return (n + size - 1) / size }

// selectRow sets keep[j] for the N largest scores of every group of M in one
// row (ties to the lower column) and leaves the other entries untouched; keep
// must start all false. idx is scratch of length M for the general case.
func selectRow(score []float64, keep []bool, p Pattern, idx []int) {
	if p == Pattern24 {
		for g := 0; g+4 <= len(score); g += 4 {
			keep2of4(score[g:g+4:g+4], keep[g:g+4:g+4])
		}
		return
	}
	for g := 0; g < len(score); g += p.M {
		for k := range idx {
			idx[k] = k
		}
		// Partial selection sort: M is tiny (4 or 8).
		for a := 0; a < p.N; a++ {
			best := a
			for b := a + 1; b < p.M; b++ {
				if score[g+idx[b]] > score[g+idx[best]] ||
					(score[g+idx[b]] == score[g+idx[best]] && idx[b] < idx[best]) {
					best = b
				}
			}
			idx[a], idx[best] = idx[best], idx[a]
			keep[g+idx[a]] = true
		}
	}
}

// keep2of4 marks the two largest of four scores, ties to the lower position.
func keep2of4(s []float64, keep []bool) {
	a, b := sel2of4(s)
	keep[a], keep[b] = true, true
}

// sel2of4 returns the positions of the two largest of four scores, ties to
// the lower position: the same choice as top2of4, and for scores without
// NaN the same as sel2of4Ordered.
func sel2of4(s []float64) (int, int) {
	s0, s1, s2, s3 := s[0], s[1], s[2], s[3]
	if s0 != s0 || s1 != s1 || s2 != s2 || s3 != s3 {
		return top2of4(s)
	}
	return sel2of4Ordered(s0, s1, s2, s3)
}

// sel2of4Ordered is sel2of4 for scores that are not NaN, with a < b. It has
// no data-dependent branch (top2of4's mispredict about every other group on
// random scores, which cost more than all the rest of the scoring): the six
// pairwise comparisons index sel24, which holds the answer. With a NaN the
// comparisons are inconsistent, and the answer is not top2of4's.
func sel2of4Ordered(s0, s1, s2, s3 float64) (a, b int) {
	e := sel24[b2i(s0 >= s1)|b2i(s0 >= s2)<<1|b2i(s0 >= s3)<<2|b2i(s1 >= s2)<<3|b2i(s1 >= s3)<<4|b2i(s2 >= s3)<<5]
	return int(e & 3), int(e >> 2)
}

// sel24 maps the comparisons of sel2of4 (bit 0: s0 ≥ s1, then s0 ≥ s2,
// s0 ≥ s3, s1 ≥ s2, s1 ≥ s3, s2 ≥ s3) to a | b<<2, the two kept positions.
// Position k is kept when fewer than two others beat it, j beating k when
// s[j] > s[k], or s[j] = s[k] and j < k: for j < k that is s[j] ≥ s[k].
var sel24 = func() (t [64]uint8) {
	pairs := [6][2]int{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}}
	for idx := range t {
		var beaten [4]int
		for p, jk := range pairs {
			if idx>>p&1 == 1 {
				beaten[jk[1]]++ // the lower position wins
			} else {
				beaten[jk[0]]++
			}
		}
		var kept []int
		for k, n := range beaten {
			if n < 2 {
				kept = append(kept, k)
			}
		}
		// Comparisons that are not consistent with any order never occur
		// without NaNs; give them a valid pair all the same.
		if len(kept) != 2 {
			kept = []int{0, 1}
		}
		t[idx] = uint8(kept[0] | kept[1]<<2)
	}
	return t
}()

// b2i is 1 for true and 0 for false; the compiler turns it into a flag move,
// not a branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// top2of4 returns the positions of the two largest of four scores, ties to the
// lower position — the same choice as the general selection in TopNMask.
func top2of4(s []float64) (int, int) {
	first, second := 0, -1
	for k := 1; k < 4; k++ {
		switch {
		case s[k] > s[first]:
			first, second = k, first
		case second < 0 || s[k] > s[second]:
			second = k
		}
	}
	return first, second
}
