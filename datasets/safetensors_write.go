package datasets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/prunebench/armor/internal/atomicfile"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"gonum.org/v1/gonum/mat"
)

// WriteSafetensors writes tensors, in the given order, and metadata to a
// safetensors file at path. The write is atomic: the bytes go to a temporary
// file in the same directory, which is synced and then renamed over path, so
// readers see either the old file or the complete new one. The output is a
// deterministic function of the arguments (see EncodeSafetensors). Invalid
// tensors, duplicate names and data whose length does not match shape and
// dtype are refused before anything is written.
func WriteSafetensors(path string, tensors []Tensor, metadata map[string]string) (err error) {
	header, err := encodeHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w *bufio.Writer) error {
		return writeBody(w, header, tensors)
	})
}

// EncodeSafetensors writes tensors, in the given order, and metadata to w in
// safetensors format. Output is deterministic: "__metadata__" comes first with
// its keys sorted (and is omitted when metadata is empty), then the tensors
// with data offsets assigned contiguously in order; the JSON header is padded
// with spaces to a multiple of 8 bytes. It fails, before writing anything, on
// an invalid tensor, a duplicate name or non-UTF-8 metadata.
func EncodeSafetensors(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	header, err := encodeHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("encode safetensors: %w", err)
	}
	if err := writeBody(w, header, tensors); err != nil {
		return fmt.Errorf("encode safetensors: %w", err)
	}
	return nil
}

// writeHeader writes the 8-byte little-endian length prefix and the padded header.
func writeHeader(w io.Writer, header []byte) error {
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(header)))
	if _, err := w.Write(prefix[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	return nil
}

// writeBody writes the length prefix, the padded header and the data section.
func writeBody(w io.Writer, header []byte, tensors []Tensor) error {
	if err := writeHeader(w, header); err != nil {
		return err
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// encodeHeader validates tensors and metadata and returns the space-padded
// JSON header.
func encodeHeader(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	for i, t := range tensors {
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("tensor %d: %w", i, err)
		}
	}
	entries := make([]headerEntry, len(tensors))
	for i, t := range tensors {
		entries[i] = headerEntry{t.Name, t.DType, t.Shape, int64(len(t.Data))}
	}
	return encodeHeaderEntries(entries, metadata)
}

// headerEntry is what the header says of one tensor.
type headerEntry struct {
	Name   string
	DType  DType
	Shape  []int
	NBytes int64
}

// encodeHeaderEntries returns the space-padded JSON header of tensors
// described by entries (already validated), laid out contiguously in order.
func encodeHeaderEntries(tensors []headerEntry, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("%s: key %q or its value is not valid UTF-8", metadataKey, k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		writeJSONString(&buf, metadataKey)
		buf.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(&buf, k)
			buf.WriteByte(':')
			writeJSONString(&buf, metadata[k])
		}
		buf.WriteByte('}')
	}
	seen := make(map[string]bool, len(tensors))
	var offset int64
	for i, t := range tensors {
		if seen[t.Name] {
			return nil, fmt.Errorf("tensor %d: duplicate tensor name %q", i, t.Name)
		}
		seen[t.Name] = true
		if i > 0 || len(metadata) > 0 {
			buf.WriteByte(',')
		}
		writeJSONString(&buf, t.Name)
		buf.WriteString(`:{"dtype":`)
		writeJSONString(&buf, string(t.DType))
		buf.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		end := offset + t.NBytes
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	if buf.Len() > MaxHeaderLen {
		return nil, fmt.Errorf("header would be %d bytes, over the %d-byte limit readers accept", buf.Len(), MaxHeaderLen)
	}
	return buf.Bytes(), nil
}

// writeJSONString appends s as a JSON string literal, without the HTML
// escaping of encoding/json's default encoder.
func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // encoding a string into a bytes.Buffer cannot fail
	buf.Truncate(buf.Len() - 1) // drop the newline Encode appends
}

// TensorFromFloat64s encodes v, row-major with the given shape, as a tensor of
// floating-point dtype dt: F64 exactly, F32, F16 or BF16 rounded to nearest,
// ties to even (values beyond a format's range become ±Inf). The shape is
// copied; len(v) must equal its element count.
func TensorFromFloat64s(name string, dt DType, shape []int, v []float64) (Tensor, error) {
	if !dt.IsFloat() {
		return Tensor{}, fmt.Errorf("tensor %q: dtype %q is not a float type (want F64, F32, F16 or BF16)", name, string(dt))
	}
	t, err := newTensor(name, dt, shape, len(v))
	if err != nil {
		return Tensor{}, err
	}
	le := binary.LittleEndian
	for i, x := range v {
		switch dt {
		case F64:
			le.PutUint64(t.Data[8*i:], math.Float64bits(x))
		case F32:
			le.PutUint32(t.Data[4*i:], math.Float32bits(float32(x)))
		case F16:
			le.PutUint16(t.Data[2*i:], Float64ToF16(x))
		case BF16:
			le.PutUint16(t.Data[2*i:], Float64ToBF16(x))
		}
	}
	return t, nil
}

// TensorFromMatrix encodes m as a 2-D tensor of shape [rows, cols] and float
// dtype dt, as TensorFromFloat64s does.
func TensorFromMatrix(name string, dt DType, m mat.Matrix) (Tensor, error) {
	if m == nil {
		return Tensor{}, fmt.Errorf("tensor %q: matrix is nil", name)
	}
	r, c := m.Dims()
	v := make([]float64, 0, r*c)
	for i := range r {
		for j := range c {
			v = append(v, m.At(i, j))
		}
	}
	return TensorFromFloat64s(name, dt, []int{r, c}, v)
}

// TensorFromUint8s makes a U8 tensor of the given shape from v (copied).
func TensorFromUint8s(name string, shape []int, v []uint8) (Tensor, error) {
	t, err := newTensor(name, U8, shape, len(v))
	if err != nil {
		return Tensor{}, err
	}
	copy(t.Data, v)
	return t, nil
}

// TensorFromInt32s makes an I32 tensor of the given shape from v.
func TensorFromInt32s(name string, shape []int, v []int32) (Tensor, error) {
	t, err := newTensor(name, I32, shape, len(v))
	if err != nil {
		return Tensor{}, err
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(t.Data[4*i:], uint32(x))
	}
	return t, nil
}

// TensorFromInt64s makes an I64 tensor of the given shape from v.
func TensorFromInt64s(name string, shape []int, v []int64) (Tensor, error) {
	t, err := newTensor(name, I64, shape, len(v))
	if err != nil {
		return Tensor{}, err
	}
	for i, x := range v {
		binary.LittleEndian.PutUint64(t.Data[8*i:], uint64(x))
	}
	return t, nil
}

// newTensor checks name and shape against n values and allocates a zeroed
// tensor of dtype dt with a copy of shape.
func newTensor(name string, dt DType, shape []int, n int) (Tensor, error) {
	if err := checkName(name); err != nil {
		return Tensor{}, err
	}
	nbytes, want, err := byteLen(dt, shape)
	if err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if n != want {
		return Tensor{}, fmt.Errorf("tensor %q: %d values given, but shape %v needs %d", name, n, shape, want)
	}
	return Tensor{Name: name, DType: dt, Shape: append([]int{}, shape...), Data: make([]byte, nbytes)}, nil
}
