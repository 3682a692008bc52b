package infer

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/prunebench/armor/internal/kernel"
	"github.com/prunebench/armor/methods"
)

// Storage is how weight values are stored.
type Storage uint8

const (
	// F32 stores float32 values.
	F32 Storage = iota
	// BF16 stores bfloat16 values (float32 rounded to nearest even, the
	// upper 16 bits), widened exactly to float32 in the products.
	BF16
)

// String returns "f32" or "bf16".
func (s Storage) String() string {
	if s == BF16 {
		return "bf16"
	}
	return "f32"
}

// ParseStorage reads "f32" or "bf16".
func ParseStorage(s string) (Storage, error) {
	switch s {
	case "f32", "float32":
		return F32, nil
	case "bf16", "bfloat16":
		return BF16, nil
	}
	return 0, fmt.Errorf("storage %q: want f32 or bf16", s)
}

// Bytes is the size of one stored value.
func (s Storage) Bytes() int {
	if s == BF16 {
		return 2
	}
	return 4
}

// values holds a run of weights in one storage.
type values struct {
	Storage Storage
	F       []float32 // F32 storage
	H       []uint16  // BF16 storage
}

// newValues stores v (rounding to bfloat16 for BF16).
func newValues(v []float32, s Storage) values {
	if s == BF16 {
		h := make([]uint16, len(v))
		for i, x := range v {
			h[i] = kernel.BF16(x)
		}
		return values{Storage: s, H: h}
	}
	return values{Storage: s, F: v}
}

func (v values) len() int {
	if v.Storage == BF16 {
		return len(v.H)
	}
	return len(v.F)
}

func (v values) at(i int) float32 {
	if v.Storage == BF16 {
		return kernel.FromBF16(v.H[i])
	}
	return v.F[i]
}

func (v values) bytes() int64 { return int64(v.len() * v.Storage.Bytes()) }

// dot runs the dense kernel on rows of these values from offset off.
func (v values) dot(off, ldw int, x []float32, ldx, n int, y []float32, ldy, rows int) {
	if v.Storage == BF16 {
		kernel.DotRowsBF16(v.H[off:], ldw, x, ldx, n, y, ldy, rows)
	} else {
		kernel.DotRowsF32(v.F[off:], ldw, x, ldx, n, y, ldy, rows)
	}
}

// Compressed is an Out × In matrix in which every group of M consecutive
// inputs of a row keeps (at most) N nonzero weights. It stores, row after
// row and group after group, exactly N values per group (a group with
// fewer nonzeros keeps explicit zeros) and their positions inside the
// group in increasing order, IndexBits each (2 for M = 4), packed least
// significant bit first into MetaStride bytes per row. For 2:4 a metadata
// byte thus covers 8 inputs, the kernels' unit.
type Compressed struct {
	Out, In int
	Pattern methods.Pattern
	values
	Meta []byte
}

// IndexBits is the number of bits of one position: ⌈log2 M⌉.
func (c *Compressed) IndexBits() int { return max(1, bits.Len(uint(c.Pattern.M-1))) }

// KeptPerRow is In/M·N.
func (c *Compressed) KeptPerRow() int { return c.In / c.Pattern.M * c.Pattern.N }

// MetaStride is the number of metadata bytes of one row.
func (c *Compressed) MetaStride() int { return (c.KeptPerRow()*c.IndexBits() + 7) / 8 }

// StoredBytes is the size of the values and the metadata.
func (c *Compressed) StoredBytes() int64 { return c.bytes() + int64(len(c.Meta)) }

// Compress packs the dense row-major Out × In matrix w, which must have at
// most N nonzero entries (bit patterns other than +0) in every group of M,
// into a Compressed matrix; name names the tensor in errors. With BF16
// storage the kept values are rounded to bfloat16.
func Compress(name string, w []float32, out, in int, p methods.Pattern, s Storage) (*Compressed, error) {
	if err := p.Valid(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if out <= 0 || in <= 0 || len(w) != out*in {
		return nil, fmt.Errorf("%s: %d values for a %d×%d matrix", name, len(w), out, in)
	}
	if in%p.M != 0 {
		return nil, fmt.Errorf("%s: d_in %d is not a multiple of M = %d", name, in, p.M)
	}
	c := &Compressed{Out: out, In: in, Pattern: p}
	kept := make([]float32, 0, out*c.KeptPerRow())
	c.Meta = make([]byte, out*c.MetaStride())
	ib, stride := c.IndexBits(), c.MetaStride()
	pos := make([]int, 0, p.M)
	for r := 0; r < out; r++ {
		bit := 0
		for g := 0; g < in/p.M; g++ {
			grp := w[r*in+g*p.M : r*in+(g+1)*p.M]
			pos = pos[:0]
			for k, v := range grp {
				if math.Float32bits(v) != 0 {
					pos = append(pos, k)
				}
			}
			if len(pos) > p.N {
				return nil, fmt.Errorf("%s: row %d, inputs %d–%d have %d nonzero weights; pattern %s keeps at most %d per group", name, r, g*p.M, (g+1)*p.M-1, len(pos), p, p.N)
			}
			// Pad with the lowest unused positions (weight +0).
			for k := 0; len(pos) < p.N; k++ {
				if !contains(pos, k) {
					pos = append(pos, k)
				}
			}
			sortSmall(pos)
			for _, k := range pos {
				kept = append(kept, grp[k])
				putBits(c.Meta[r*stride:], bit, ib, k)
				bit += ib
			}
		}
	}
	c.values = newValues(kept, s)
	return c, nil
}

func contains(s []int, k int) bool {
	for _, v := range s {
		if v == k {
			return true
		}
	}
	return false
}

func sortSmall(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func putBits(b []byte, at, n, v int) {
	for i := 0; i < n; i++ {
		if v>>i&1 != 0 {
			b[(at+i)/8] |= 1 << ((at + i) % 8)
		}
	}
}

func getBits(b []byte, at, n int) int {
	v := 0
	for i := 0; i < n; i++ {
		v |= int(b[(at+i)/8]>>((at+i)%8)&1) << i
	}
	return v
}

// Validate checks the sizes and that every group's positions are
// increasing and below M (so a corrupted metadata tensor is caught before
// it is used); name names the tensor in errors.
func (c *Compressed) Validate(name string) error {
	if err := c.Pattern.Valid(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if c.Out <= 0 || c.In <= 0 || c.In%c.Pattern.M != 0 {
		return fmt.Errorf("%s: shape %d×%d does not fit pattern %s", name, c.Out, c.In, c.Pattern)
	}
	if n := c.Out * c.KeptPerRow(); c.len() != n {
		return fmt.Errorf("%s: %d kept values, want %d for %d×%d at %s", name, c.len(), n, c.Out, c.In, c.Pattern)
	}
	if n := c.Out * c.MetaStride(); len(c.Meta) != n {
		return fmt.Errorf("%s: metadata has %d bytes, want %d", name, len(c.Meta), n)
	}
	ib, stride := c.IndexBits(), c.MetaStride()
	for r := 0; r < c.Out; r++ {
		row := c.Meta[r*stride : (r+1)*stride]
		bit := 0
		for g := 0; g < c.In/c.Pattern.M; g++ {
			prev := -1
			for k := 0; k < c.Pattern.N; k++ {
				p := getBits(row, bit, ib)
				bit += ib
				if p <= prev || p >= c.Pattern.M {
					return fmt.Errorf("%s: corrupted metadata at row %d, inputs %d–%d: kept position %d after %d (positions must increase within [0, %d))", name, r, g*c.Pattern.M, (g+1)*c.Pattern.M-1, p, prev, c.Pattern.M)
				}
				prev = p
			}
		}
		if pad := stride*8 - bit; pad > 0 && getBits(row, bit, pad) != 0 {
			return fmt.Errorf("%s: corrupted metadata at row %d: padding bits set", name, r)
		}
	}
	return nil
}

// Dense returns the dense masked matrix (zeros where pruned; bfloat16
// values widened).
func (c *Compressed) Dense() []float32 {
	w := make([]float32, c.Out*c.In)
	for r := 0; r < c.Out; r++ {
		c.expandRow(r, w[r*c.In:(r+1)*c.In])
	}
	return w
}

// expandRow writes row r densely into dst (In values).
func (c *Compressed) expandRow(r int, dst []float32) {
	clear(dst)
	ib, stride, kpr := c.IndexBits(), c.MetaStride(), c.KeptPerRow()
	meta := c.Meta[r*stride : (r+1)*stride]
	for k := 0; k < kpr; k++ {
		g := k / c.Pattern.N
		dst[g*c.Pattern.M+getBits(meta, k*ib, ib)] = c.at(r*kpr + k)
	}
}
