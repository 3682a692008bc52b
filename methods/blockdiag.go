package methods

import "gonum.org/v1/gonum/mat"

// BlockSizes splits a dimension of size d into blocks of size b; when d is
// not a multiple of b the last block is smaller (a 172-wide layer with b = 32
// gives five blocks of 32 and one of 12). b ≥ d gives one block.
func BlockSizes(d, b int) []int {
	if b <= 0 || b >= d {
		return []int{d}
	}
	out := make([]int, 0, (d+b-1)/b)
	for s := 0; s < d; s += b {
		out = append(out, min(b, d-s))
	}
	return out
}

// BlockDiag is a square block-diagonal matrix stored as its diagonal blocks.
// Block k is Sizes[k] × Sizes[k], row-major in Blocks[k], and starts at row and
// column Starts[k].
type BlockDiag struct {
	Sizes, Starts []int
	Blocks        [][]float64
}

// NewBlockDiagIdentity returns the d × d identity split into blocks of size b.
func NewBlockDiagIdentity(d, b int) *BlockDiag {
	l := newBlockLayout(d, b)
	return &BlockDiag{Sizes: l.sizes, Starts: l.starts, Blocks: identityBlocks[float64](l)}
}

// Dim is the size of the whole matrix.
func (bd *BlockDiag) Dim() int {
	n := 0
	for _, s := range bd.Sizes {
		n += s
	}
	return n
}

// Params counts the entries of the diagonal blocks.
func (bd *BlockDiag) Params() int {
	n := 0
	for _, s := range bd.Sizes {
		n += s * s
	}
	return n
}

// Clone returns a deep copy.
func (bd *BlockDiag) Clone() *BlockDiag {
	c := &BlockDiag{Sizes: append([]int(nil), bd.Sizes...), Starts: append([]int(nil), bd.Starts...)}
	for _, b := range bd.Blocks {
		c.Blocks = append(c.Blocks, append([]float64(nil), b...))
	}
	return c
}

// CopyFrom overwrites bd's blocks with src's (same structure).
func (bd *BlockDiag) CopyFrom(src *BlockDiag) {
	for k := range bd.Blocks {
		copy(bd.Blocks[k], src.Blocks[k])
	}
}

// Dense assembles the full matrix, zero off the diagonal blocks.
func (bd *BlockDiag) Dense() *mat.Dense {
	n := bd.Dim()
	out := mat.NewDense(n, n, nil)
	for k, s := range bd.Sizes {
		o := bd.Starts[k]
		for u := 0; u < s; u++ {
			for v := 0; v < s; v++ {
				out.Set(o+u, o+v, bd.Blocks[k][u*s+v])
			}
		}
	}
	return out
}

// blockOf returns the index of the block holding row/column idx.
func (bd *BlockDiag) blockOf(idx int) int {
	return blockLayout{sizes: bd.Sizes, starts: bd.Starts}.blockOf(idx)
}

// blockLayout is how a dimension splits into the diagonal blocks of A or B.
type blockLayout struct{ sizes, starts []int }

// newBlockLayout splits d into blocks of size b (see BlockSizes).
func newBlockLayout(d, b int) blockLayout {
	l := blockLayout{sizes: BlockSizes(d, b)}
	start := 0
	for _, s := range l.sizes {
		l.starts = append(l.starts, start)
		start += s
	}
	return l
}

// blockOf returns the index of the block holding row/column idx.
func (l blockLayout) blockOf(idx int) int {
	for k := len(l.starts) - 1; k >= 0; k-- {
		if idx >= l.starts[k] {
			return k
		}
	}
	return 0
}

// newBlocks returns zeroed blocks shaped like layout l.
func newBlocks[T float](l blockLayout) [][]T {
	out := make([][]T, len(l.sizes))
	for k, s := range l.sizes {
		out[k] = make([]T, s*s)
	}
	return out
}

// identityBlocks returns the blocks of the identity with layout l.
func identityBlocks[T float](l blockLayout) [][]T {
	out := newBlocks[T](l)
	for k, s := range l.sizes {
		for u := 0; u < s; u++ {
			out[k][u*s+u] = 1
		}
	}
	return out
}
