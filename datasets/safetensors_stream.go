package datasets

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/prunebench/armor/internal/atomicfile"
)

// StreamTensor is a tensor whose bytes are produced only when the file is
// written, so that a checkpoint larger than memory can be written one
// tensor at a time. Write must write exactly the tensor's byte length
// (NumElements(Shape)·DType.Size() little-endian bytes).
type StreamTensor struct {
	Name  string
	DType DType
	Shape []int
	Write func(w io.Writer) error
}

// NBytes returns the tensor's data length, or an error for an invalid name,
// dtype or shape.
func (t StreamTensor) NBytes() (int64, error) {
	if err := checkName(t.Name); err != nil {
		return 0, err
	}
	n, _, err := byteLen(t.DType, t.Shape)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return int64(n), nil
}

// StreamOf wraps an in-memory tensor as a StreamTensor.
func StreamOf(t Tensor) StreamTensor {
	return StreamTensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Write: func(w io.Writer) error {
		_, err := w.Write(t.Data)
		return err
	}}
}

// WriteSafetensorsStream writes tensors, in order, to a safetensors file at
// path, atomically, calling each tensor's Write in turn: only one tensor's
// bytes need exist at a time. The file is byte-identical to what
// WriteSafetensors writes for the same tensors. A Write that produces the
// wrong number of bytes fails the whole write (path is left untouched).
func WriteSafetensorsStream(path string, tensors []StreamTensor, metadata map[string]string) error {
	entries := make([]headerEntry, len(tensors))
	for i, t := range tensors {
		n, err := t.NBytes()
		if err != nil {
			return fmt.Errorf("write %s: tensor %d: %w", path, i, err)
		}
		entries[i] = headerEntry{t.Name, t.DType, t.Shape, n}
	}
	header, err := encodeHeaderEntries(entries, metadata)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w *bufio.Writer) error {
		if err := writeHeader(w, header); err != nil {
			return err
		}
		for i, t := range tensors {
			cw := &countingWriter{w: w}
			if err := t.Write(cw); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			if cw.n != entries[i].NBytes {
				return fmt.Errorf("tensor %q: wrote %d bytes, its shape %v of %s needs %d", t.Name, cw.n, t.Shape, t.DType, entries[i].NBytes)
			}
		}
		return nil
	})
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// EncodeFloat32s writes v to w as little-endian values of dtype dt (F32, or
// F16/BF16 rounded to nearest even), a chunk at a time.
func EncodeFloat32s(w io.Writer, dt DType, v []float32) error {
	size := dt.Size()
	switch dt {
	case F32, F16, BF16:
	default:
		return fmt.Errorf("encode: dtype %q: want F32, F16 or BF16", string(dt))
	}
	const chunk = 1 << 14
	buf := make([]byte, chunk*size)
	le := binary.LittleEndian
	for c0 := 0; c0 < len(v); c0 += chunk {
		part := v[c0:min(len(v), c0+chunk)]
		for i, x := range part {
			switch dt {
			case F32:
				le.PutUint32(buf[4*i:], math.Float32bits(x))
			case F16:
				le.PutUint16(buf[2*i:], Float64ToF16(float64(x)))
			case BF16:
				le.PutUint16(buf[2*i:], Float64ToBF16(float64(x)))
			}
		}
		if _, err := w.Write(buf[:len(part)*size]); err != nil {
			return err
		}
	}
	return nil
}
