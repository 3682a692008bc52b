package infer

import (
	"fmt"

	"github.com/prunebench/armor/internal/kernel"
	"github.com/prunebench/armor/methods"
)

// Operator is a linear layer in a deployed form (a model.Operator that also
// reports its format and size).
type Operator interface {
	Dims() (out, in int)
	Apply(x []float32, rows int, y []float32)
	// Format is "dense", "2:4" (or "N:M") or "armor".
	Format() string
	// StoredBytes is the size of the stored weights and indices.
	StoredBytes() int64
}

// checkApply panics on a caller bug (operators are applied by the model's
// forward pass, which sizes its buffers).
func checkApply(op Operator, x []float32, rows int, y []float32) {
	out, in := op.Dims()
	if rows <= 0 || len(x) < rows*in || len(y) < rows*out {
		panic(fmt.Sprintf("infer: %s %d×%d applied to %d rows with %d inputs and %d outputs", op.Format(), out, in, rows, len(x), len(y)))
	}
}

// Dense is a dense Out × In layer (row-major weights).
type Dense struct {
	Out, In int
	w       values
}

// NewDense stores the row-major Out × In weights w (used, not copied, for
// F32; rounded to bfloat16 for BF16).
func NewDense(name string, w []float32, out, in int, s Storage) (*Dense, error) {
	if out <= 0 || in <= 0 || len(w) != out*in {
		return nil, fmt.Errorf("%s: %d values for a %d×%d matrix", name, len(w), out, in)
	}
	return &Dense{Out: out, In: in, w: newValues(w, s)}, nil
}

// Dims returns (Out, In).
func (d *Dense) Dims() (int, int) { return d.Out, d.In }

// Format returns "dense".
func (d *Dense) Format() string { return "dense" }

// Storage returns how the weights are stored.
func (d *Dense) Storage() Storage { return d.w.Storage }

// StoredBytes is Out·In times the value size.
func (d *Dense) StoredBytes() int64 { return d.w.bytes() }

// Apply sets y = W x for each of the rows rows of x.
func (d *Dense) Apply(x []float32, rows int, y []float32) {
	checkApply(d, x, rows, y)
	applyRows(d, x, rows, y)
}

func (d *Dense) dims() (int, int) { return d.Out, d.In }

func (d *Dense) rows(o0, o1 int, x []float32, ntok int, y []float32) {
	if ntok == 1 {
		d.w.dot(o0*d.In, d.In, x, 0, d.In, y[o0:], 1, o1-o0)
		return
	}
	for o := o0; o < o1; o++ {
		d.w.dot(o*d.In, 0, x, d.In, d.In, y[o:], d.Out, ntok)
	}
}

// Sparse is an N:M-compressed layer; 2:4 runs on the 2:4 kernels, other
// patterns expand each row and run the dense kernel.
type Sparse struct {
	C *Compressed
}

// NewSparse validates c and wraps it; name names the tensor in errors.
func NewSparse(name string, c *Compressed) (*Sparse, error) {
	if err := c.Validate(name); err != nil {
		return nil, err
	}
	return &Sparse{C: c}, nil
}

// Dims returns (Out, In).
func (s *Sparse) Dims() (int, int) { return s.C.Out, s.C.In }

// Format returns the pattern, e.g. "2:4".
func (s *Sparse) Format() string { return s.C.Pattern.String() }

// StoredBytes is the size of the kept values and the metadata.
func (s *Sparse) StoredBytes() int64 { return s.C.StoredBytes() }

// Apply sets y = W x for each of the rows rows of x.
func (s *Sparse) Apply(x []float32, rows int, y []float32) {
	checkApply(s, x, rows, y)
	applyRows(s, x, rows, y)
}

func (s *Sparse) dims() (int, int) { return s.C.Out, s.C.In }

func (s *Sparse) rows(o0, o1 int, x []float32, ntok int, y []float32) {
	c := s.C
	if c.Pattern != methods.Pattern24 {
		buf := getScratch(c.In)
		for o := o0; o < o1; o++ {
			c.expandRow(o, buf.v)
			kernel.DotRowsF32(buf.v, 0, x, c.In, c.In, y[o:], c.Out, ntok)
		}
		scratches.put(buf)
		return
	}
	kpr, ms := c.KeptPerRow(), c.MetaStride()
	dot := func(o, ldv, ldm, ldx, ldy, rows int) {
		if c.Storage == BF16 {
			kernel.DotRows24BF16(c.H[o*kpr:], ldv, c.Meta[o*ms:], ldm, x, ldx, c.In, y[o:], ldy, rows)
		} else {
			kernel.DotRows24F32(c.F[o*kpr:], ldv, c.Meta[o*ms:], ldm, x, ldx, c.In, y[o:], ldy, rows)
		}
	}
	if ntok == 1 {
		dot(o0, kpr, ms, 0, 1, o1-o0)
		return
	}
	for o := o0; o < o1; o++ {
		dot(o, 0, 0, c.In, c.Out, ntok)
	}
}

// blockDiag is a block-diagonal square matrix stored as its diagonal
// blocks, one after the other, each row-major.
type blockDiag struct {
	n      int
	sizes  []int
	starts []int // first row of each block
	offs   []int // offset of each block in w
	owner  []int // block of each row
	w      values
}

func newBlockDiag(name string, sizes []int, n int, v []float32, s Storage) (*blockDiag, error) {
	b := &blockDiag{n: n, sizes: sizes, owner: make([]int, 0, n)}
	r, off := 0, 0
	for k, sz := range sizes {
		if sz <= 0 {
			return nil, fmt.Errorf("%s: block %d has size %d", name, k, sz)
		}
		b.starts = append(b.starts, r)
		b.offs = append(b.offs, off)
		for range sz {
			b.owner = append(b.owner, k)
		}
		r += sz
		off += sz * sz
	}
	if r != n {
		return nil, fmt.Errorf("%s: blocks %v sum to %d, want %d", name, sizes, r, n)
	}
	if len(v) != off {
		return nil, fmt.Errorf("%s: %d values, blocks %v need %d", name, len(v), sizes, off)
	}
	b.w = newValues(v, s)
	return b, nil
}

func (b *blockDiag) dims() (int, int) { return b.n, b.n }

func (b *blockDiag) rows(o0, o1 int, x []float32, ntok int, y []float32) {
	for o0 < o1 {
		k := b.owner[o0]
		s, sz := b.starts[k], b.sizes[k]
		end := min(o1, s+sz)
		off := b.offs[k] + (o0-s)*sz
		if ntok == 1 {
			b.w.dot(off, sz, x[s:], 0, sz, y[o0:], 1, end-o0)
		} else {
			for o := o0; o < end; o++ {
				b.w.dot(off+(o-o0)*sz, 0, x[s:], b.n, sz, y[o:], b.n, ntok)
			}
		}
		o0 = end
	}
}

// Factored is ARMOR's deployed layer y = A·(S·(B·x)): A (Out × Out) and B
// (In × In) block-diagonal, S an N:M-compressed core. The three products
// run one after the other; B·x and S·(B·x) are small (In and Out values a
// token) and stay in cache between them.
type Factored struct {
	a, b *blockDiag
	core *Sparse
}

// NewFactored builds the layer from the diagonal blocks of A (sizes
// outBlocks, concatenated row-major) and B (inBlocks) and the core, checking
// that the shapes agree; name names the layer in errors.
func NewFactored(name string, outBlocks []int, a []float32, inBlocks []int, b []float32, core *Compressed, s Storage) (*Factored, error) {
	sp, err := NewSparse(name+".core", core)
	if err != nil {
		return nil, err
	}
	ab, err := newBlockDiag(name+".A", outBlocks, core.Out, a, s)
	if err != nil {
		return nil, err
	}
	bb, err := newBlockDiag(name+".B", inBlocks, core.In, b, s)
	if err != nil {
		return nil, err
	}
	return &Factored{a: ab, b: bb, core: sp}, nil
}

// Dims returns (Out, In).
func (f *Factored) Dims() (int, int) { return f.core.Dims() }

// Format returns "armor".
func (f *Factored) Format() string { return "armor" }

// StoredBytes is the size of A's and B's blocks and of the core.
func (f *Factored) StoredBytes() int64 {
	return f.a.w.bytes() + f.b.w.bytes() + f.core.StoredBytes()
}

// Apply sets y = A·S·B·x for each of the rows rows of x.
func (f *Factored) Apply(x []float32, rows int, y []float32) {
	checkApply(f, x, rows, y)
	out, in := f.Dims()
	t, u := getScratch(rows*in), getScratch(rows*out)
	applyRows(f.b, x, rows, t.v)
	applyRows(f.core, t.v, rows, u.v)
	applyRows(f.a, u.v, rows, y)
	scratches.put(t)
	scratches.put(u)
}
