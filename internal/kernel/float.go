package kernel

// Float is the storage type of the kernels: float64, or float32 where a
// method keeps its working set in single precision.
type Float interface{ float32 | float64 }

// Mat is a row-major view of Rows × Cols entries with the given row stride:
// entry (r, c) is Data[r·Stride + c].
type Mat[T Float] struct {
	Rows, Cols, Stride int
	Data               []T
}

// Sub returns the rows × cols block of m starting at (r0, c0).
func (m Mat[T]) Sub(r0, c0, rows, cols int) Mat[T] {
	return Mat[T]{Rows: rows, Cols: cols, Stride: m.Stride, Data: m.Data[r0*m.Stride+c0:]}
}
