package infer

import (
	"fmt"
	"math/bits"

	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/pipeline"
)

// FromFactored converts ARMOR's exported layer (group bitmasks) into the
// deployed Factored operator with the given storage; name names the layer.
func FromFactored(name string, f *pipeline.Factored, s Storage) (*Factored, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := f.Pattern
	c := &Compressed{Out: f.DOut, In: f.DIn, Pattern: p}
	c.Meta = make([]byte, c.Out*c.MetaStride())
	ib, stride, groups := c.IndexBits(), c.MetaStride(), f.DIn/p.M
	kept := make([]float32, 0, c.Out*c.KeptPerRow())
	v := 0
	for r := 0; r < f.DOut; r++ {
		bit := 0
		for g := 0; g < groups; g++ {
			m := f.Groups[r*groups+g]
			if n := bits.OnesCount8(m); n > p.N {
				return nil, fmt.Errorf("%s.groups: row %d group %d keeps %d inputs (mask %#x), pattern %s allows %d", name, r, g, n, m, p, p.N)
			}
			pad := m
			for k := 0; bits.OnesCount8(pad) < p.N; k++ {
				pad |= 1 << k
			}
			for k := 0; k < p.M; k++ {
				if pad&(1<<k) == 0 {
					continue
				}
				val := float32(0)
				if m&(1<<k) != 0 {
					val = f.Values[v]
					v++
				}
				kept = append(kept, val)
				putBits(c.Meta[r*stride:], bit, ib, k)
				bit += ib
			}
		}
	}
	c.values = newValues(kept, s)
	return NewFactored(name, f.OutBlocks, f.A, f.InBlocks, f.B, c, s)
}

// Options choose the deployed form of a model's linear layers.
type Options struct {
	// Storage of every converted layer's values.
	Storage Storage
	// Sparse, when set, compresses every dense layer that is not factorised
	// with this pattern (each must satisfy it); otherwise they stay dense.
	Sparse *methods.Pattern
}

// Convert replaces every decoder linear layer of m by its deployed
// operator: the ARMOR factorisation from factors when there is one, else the
// layer compressed (opt.Sparse) or dense. The dense weights are dropped.
// The embedding, norms and classifier are unchanged.
func Convert(m *model.Model, factors map[string]*pipeline.Factored, opt Options) error {
	w := m.Weights()
	for _, name := range w.LinearNames() {
		l, err := w.Linear(name)
		if err != nil {
			return err
		}
		var op Operator
		switch f := factors[name]; {
		case f != nil:
			op, err = FromFactored(name, f, opt.Storage)
		case l.Op != nil:
			return fmt.Errorf("%s: layer is already converted", name)
		case opt.Sparse != nil:
			var c *Compressed
			if c, err = Compress(name, l.Float32s(), l.Out, l.In, *opt.Sparse, opt.Storage); err == nil {
				op, err = NewSparse(name, c)
			}
		default:
			op, err = NewDense(name, l.Float32s(), l.Out, l.In, opt.Storage)
		}
		if err != nil {
			return err
		}
		if err := w.SetOperator(name, op); err != nil {
			return err
		}
	}
	return nil
}

// Memory is a model's resident weight bytes.
type Memory struct {
	// Linear is the decoder linear layers' stored bytes (operators as
	// stored, dense layers as they are held: float32 or 16-bit).
	Linear int64 `json:"linear_bytes"`
	// Other is the embedding, norms and untied classifier, as held.
	Other int64 `json:"other_bytes"`
	// DenseLinear is what the decoder linears take as dense float32.
	DenseLinear int64 `json:"dense_linear_bytes"`
}

// Total is Linear + Other.
func (m Memory) Total() int64 { return m.Linear + m.Other }

// ResidentBytes adds up the weight bytes m holds.
func ResidentBytes(m *model.Model) Memory {
	w := m.Weights()
	var mem Memory
	held := func(l *model.Linear) int64 { return 4*int64(len(l.W)) + int64(len(l.Half)) }
	mem.Other = held(w.Embedding()) + 4*int64(len(w.FinalNorm))
	if w.Classifier != nil {
		mem.Other += held(w.Classifier)
	}
	for _, L := range w.Layers {
		mem.Other += 4 * int64(len(L.AttnNorm)+len(L.FFNNorm))
	}
	for _, name := range w.LinearNames() {
		l, _ := w.Linear(name)
		mem.DenseLinear += 4 * int64(l.Out*l.In)
		switch op := l.Op.(type) {
		case Operator:
			mem.Linear += op.StoredBytes()
		default:
			mem.Linear += held(l)
		}
	}
	return mem
}
