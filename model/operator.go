package model

import "fmt"

// Operator computes a linear layer's outputs from a form other than its
// dense float32 weights (compressed 2:4, factorised, bfloat16, …). Apply
// sets y (rows × Out) to W x for each of the rows input vectors of x (rows ×
// In, row-major); it must not keep x or y and may be called concurrently.
type Operator interface {
	Dims() (out, in int)
	Apply(x []float32, rows int, y []float32)
}

// SetOperator makes the decoder linear layer name (see LinearName) compute through op instead of its dense weights,
// which are dropped: Linear.W and Half become nil and Linear.Op holds op
// (a bias is kept and still added). op must
// have the layer's shape.
func (w *Weights) SetOperator(name string, op Operator) error {
	l, err := w.Linear(name)
	if err != nil {
		return err
	}
	if op == nil {
		return fmt.Errorf("linear %s: nil operator", name)
	}
	if out, in := op.Dims(); out != l.Out || in != l.In {
		return fmt.Errorf("linear %s: operator is %d×%d, the layer is %d×%d", name, out, in, l.Out, l.In)
	}
	return w.SetLinear(name, &Linear{Out: l.Out, In: l.In, Op: op, Bias: l.Bias})
}
