package datasets

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gonum.org/v1/gonum/mat"
)

// A safetensors file is laid out as
//
//	bytes 0–7      header length N, uint64 little-endian
//	bytes 8–8+N    JSON object: tensor name → {"dtype", "shape", "data_offsets": [begin, end)},
//	               plus an optional "__metadata__" string→string map; padded with spaces
//	bytes 8+N–     data section: each tensor's raw row-major little-endian bytes
//
// Offsets count from the first byte of the data section. As in the reference
// implementation, the tensors must tile the data section exactly: no overlaps,
// no holes, no trailing bytes.

// MaxHeaderLen is the largest header (JSON) length ReadSafetensors and
// ParseSafetensors accept, 100 MiB as in the reference implementation. A
// larger length prefix is treated as corruption rather than allocated.
const MaxHeaderLen = 100 << 20

// metadataKey is the reserved header key that holds the string→string metadata.
const metadataKey = "__metadata__"

// DType names the element type of a tensor, spelled as in safetensors headers.
type DType string

// The element types this package reads and writes. All are little-endian.
const (
	F64  DType = "F64"  // IEEE-754 binary64
	F32  DType = "F32"  // IEEE-754 binary32
	F16  DType = "F16"  // IEEE-754 binary16 (half precision)
	BF16 DType = "BF16" // bfloat16: the upper 16 bits of a binary32
	I64  DType = "I64"  // signed 64-bit integer
	I32  DType = "I32"  // signed 32-bit integer
	I16  DType = "I16"  // signed 16-bit integer
	I8   DType = "I8"   // signed 8-bit integer
	U64  DType = "U64"  // unsigned 64-bit integer
	U32  DType = "U32"  // unsigned 32-bit integer
	U16  DType = "U16"  // unsigned 16-bit integer
	U8   DType = "U8"   // unsigned 8-bit integer
	BOOL DType = "BOOL" // one byte per element; 0 is false, anything else true
)

// knownDTypes lists every supported dtype, in the order used in error messages.
var knownDTypes = []DType{F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL}

// Size returns the number of bytes of one element of type d, or 0 if d is not
// a supported dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case I8, U8, BOOL:
		return 1
	}
	return 0
}

// Valid reports whether d is one of the supported dtypes.
func (d DType) Valid() bool { return d.Size() != 0 }

// IsFloat reports whether d is a floating-point dtype (F64, F32, F16, BF16).
func (d DType) IsFloat() bool {
	return d == F64 || d == F32 || d == F16 || d == BF16
}

// Tensor is one named, typed, row-major array as stored in a safetensors file.
// Data holds exactly NumElements(Shape) × DType.Size() little-endian bytes; an
// empty Shape is a scalar with one element. Tensors returned by the readers
// share one backing buffer per file, each with its capacity capped at its own
// length, so appending to Data never overwrites a neighbour.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// NumElements returns the product of shape (1 for an empty shape). It fails on
// a negative dimension or when the product overflows int.
func NumElements(shape []int) (int, error) {
	n := 1
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has negative dimension %d at index %d", shape, d, i)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v has more elements than fit in an int", shape)
		}
		n *= d
	}
	return n, nil
}

// checkName reports whether name can be a tensor name: non-empty, valid UTF-8
// and not the reserved metadata key.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("tensor name is empty")
	case name == metadataKey:
		return fmt.Errorf("tensor name %q is reserved for metadata", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("tensor name %q is not valid UTF-8", name)
	}
	return nil
}

// byteLen returns the number of data bytes a tensor of type dt and the given
// shape needs, and its element count.
func byteLen(dt DType, shape []int) (nbytes, n int, err error) {
	size := dt.Size()
	if size == 0 {
		return 0, 0, fmt.Errorf("unknown dtype %q (known: %s)", string(dt), dtypeList())
	}
	n, err = NumElements(shape)
	if err != nil {
		return 0, 0, err
	}
	if n > math.MaxInt/size {
		return 0, 0, fmt.Errorf("shape %v of %s needs more bytes than fit in an int", shape, dt)
	}
	return n * size, n, nil
}

// Validate checks that t has a usable name, a supported dtype, a valid shape
// and exactly as many data bytes as its shape and dtype need.
func (t Tensor) Validate() error {
	_, err := t.numElements()
	return err
}

// numElements validates t and returns its element count.
func (t Tensor) numElements() (int, error) {
	if err := checkName(t.Name); err != nil {
		return 0, err
	}
	nbytes, n, err := byteLen(t.DType, t.Shape)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if len(t.Data) != nbytes {
		return 0, fmt.Errorf("tensor %q: data holds %d bytes, but shape %v of %s needs %d",
			t.Name, len(t.Data), t.Shape, t.DType, nbytes)
	}
	return n, nil
}

// Float64s decodes every element of t, of any supported dtype, to float64 in
// row-major order. Integers beyond ±2⁵³ lose precision; BOOL becomes 0 or 1.
func (t Tensor) Float64s() ([]float64, error) {
	n, err := t.numElements()
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	d := t.Data
	le := binary.LittleEndian
	switch t.DType {
	case F64:
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(d[8*i:]))
		}
	case F32:
		for i := range out {
			out[i] = float64(math.Float32frombits(le.Uint32(d[4*i:])))
		}
	case F16:
		for i := range out {
			out[i] = float64(F16ToFloat32(le.Uint16(d[2*i:])))
		}
	case BF16:
		for i := range out {
			out[i] = float64(BF16ToFloat32(le.Uint16(d[2*i:])))
		}
	case U64:
		for i := range out {
			out[i] = float64(le.Uint64(d[8*i:]))
		}
	case BOOL:
		for i := range out {
			if d[i] != 0 {
				out[i] = 1
			}
		}
	default: // signed integers and the remaining unsigned ones fit in int64
		ints, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		for i, v := range ints {
			out[i] = float64(v)
		}
	}
	return out, nil
}

// Int64s decodes every element of t to int64 in row-major order. Integer
// dtypes and BOOL convert exactly; U64 values above MaxInt64 and float values
// that are not whole numbers in int64 range are errors naming the element.
func (t Tensor) Int64s() ([]int64, error) {
	return t.int64s("int64")
}

// int64s is Int64s; target names the type the caller finally wants, for
// error messages.
func (t Tensor) int64s(target string) ([]int64, error) {
	n, err := t.numElements()
	if err != nil {
		return nil, err
	}
	if t.DType.IsFloat() {
		fs, err := t.Float64s()
		if err != nil {
			return nil, err
		}
		out := make([]int64, n)
		for i, v := range fs {
			// -2⁶³ is exact in float64; 2⁶³ is the first value out of range.
			if v != math.Trunc(v) || v < -(1<<63) || v >= 1<<63 {
				return nil, t.elementErr(i, strconv.FormatFloat(v, 'g', -1, 64), target)
			}
			out[i] = int64(v)
		}
		return out, nil
	}
	out := make([]int64, n)
	d := t.Data
	le := binary.LittleEndian
	switch t.DType {
	case I64:
		for i := range out {
			out[i] = int64(le.Uint64(d[8*i:]))
		}
	case I32:
		for i := range out {
			out[i] = int64(int32(le.Uint32(d[4*i:])))
		}
	case I16:
		for i := range out {
			out[i] = int64(int16(le.Uint16(d[2*i:])))
		}
	case I8:
		for i := range out {
			out[i] = int64(int8(d[i]))
		}
	case U64:
		for i := range out {
			u := le.Uint64(d[8*i:])
			if u > math.MaxInt64 {
				return nil, t.elementErr(i, strconv.FormatUint(u, 10), target)
			}
			out[i] = int64(u)
		}
	case U32:
		for i := range out {
			out[i] = int64(le.Uint32(d[4*i:]))
		}
	case U16:
		for i := range out {
			out[i] = int64(le.Uint16(d[2*i:]))
		}
	case U8:
		for i := range out {
			out[i] = int64(d[i])
		}
	case BOOL:
		for i := range out {
			if d[i] != 0 {
				out[i] = 1
			}
		}
	}
	return out, nil
}

// elementErr reports that element i (row-major) of t, whose value is shown as
// value, does not fit the target type.
func (t Tensor) elementErr(i int, value, target string) error {
	return fmt.Errorf("tensor %q: element %v = %s of %s does not fit in %s",
		t.Name, unravel(i, t.Shape), value, t.DType, target)
}

// unravel turns a row-major flat index into a multi-index for shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] > 0 {
			idx[k] = i % shape[k]
			i /= shape[k]
		}
	}
	return idx
}

// integer is the set of element types the narrowing integer accessors return.
type integer interface{ ~uint8 | ~int32 | ~int }

// narrowInts converts t's elements to T, failing on the first element outside
// [lo, hi]. typ names T in error messages.
func narrowInts[T integer](t Tensor, lo, hi int64, typ string) ([]T, error) {
	vs, err := t.int64s(typ)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(vs))
	for i, v := range vs {
		if v < lo || v > hi {
			return nil, t.elementErr(i, strconv.FormatInt(v, 10), typ)
		}
		out[i] = T(v)
	}
	return out, nil
}

// File is a parsed safetensors file: where it came from, its metadata and its
// tensors in header order. The accessors look tensors up by name, convert
// any numeric dtype and name the file and tensor in every error.
type File struct {
	// Path is the file path, or the name given to ParseSafetensors; it is
	// used in error messages.
	Path string
	// Metadata is the header's "__metadata__" map; empty, never nil, when the
	// header has none.
	Metadata map[string]string
	// Tensors are in the order of the header's JSON object.
	Tensors []Tensor
}

// errorf returns an error prefixed with the file's path.
func (f *File) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", f.where(), fmt.Errorf(format, args...))
}

// wrap prefixes err with the file's path.
func (f *File) wrap(err error) error {
	return fmt.Errorf("%s: %w", f.where(), err)
}

func (f *File) where() string {
	if f.Path == "" {
		return "safetensors"
	}
	return f.Path
}

// Has reports whether the file holds a tensor called name.
func (f *File) Has(name string) bool {
	_, ok := f.lookup(name)
	return ok
}

func (f *File) lookup(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// Names returns the tensor names in header order.
func (f *File) Names() []string {
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	return names
}

// Tensor returns the tensor called name. Its Shape and Data share memory with
// the file.
func (f *File) Tensor(name string) (Tensor, error) {
	t, ok := f.lookup(name)
	if !ok {
		names := f.Names()
		list := strings.Join(names, ", ")
		if len(names) > 12 {
			list = strings.Join(names[:12], ", ") + ", …"
		}
		return Tensor{}, f.errorf("no tensor %q (the file has %d: %s)", name, len(names), list)
	}
	return t, nil
}

// Shape returns a copy of the shape of the tensor called name.
func (f *File) Shape(name string) ([]int, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	return append([]int{}, t.Shape...), nil
}

// Float64s returns the elements of the tensor called name, of any dtype,
// converted to float64 in row-major order, and a copy of its shape.
func (f *File) Float64s(name string) ([]float64, []int, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, nil, err
	}
	v, err := t.Float64s()
	if err != nil {
		return nil, nil, f.wrap(err)
	}
	return v, append([]int{}, t.Shape...), nil
}

// Matrix returns the 2-D tensor called name as a dense matrix of its shape,
// converting any dtype to float64. It fails on tensors of another rank and on
// empty ones (gonum matrices have at least one row and one column).
func (f *File) Matrix(name string) (*mat.Dense, error) {
	v, shape, err := f.Float64s(name)
	if err != nil {
		return nil, err
	}
	if len(shape) != 2 {
		return nil, f.errorf("tensor %q: want a matrix (2-D), found shape %v (%d-D)", name, shape, len(shape))
	}
	if shape[0] == 0 || shape[1] == 0 {
		return nil, f.errorf("tensor %q: shape %v is empty; a matrix needs at least one row and column", name, shape)
	}
	return mat.NewDense(shape[0], shape[1], v), nil
}

// Vector returns the 1-D tensor called name converted to float64.
func (f *File) Vector(name string) ([]float64, error) {
	v, shape, err := f.Float64s(name)
	if err != nil {
		return nil, err
	}
	if len(shape) != 1 {
		return nil, f.errorf("tensor %q: want a vector (1-D), found shape %v (%d-D)", name, shape, len(shape))
	}
	return v, nil
}

// Uint8s returns the elements of the tensor called name as bytes, and a copy of
// its shape. Any dtype converts as long as every element is a whole number in
// [0, 255]; otherwise the error names the first offending element.
func (f *File) Uint8s(name string) ([]uint8, []int, error) {
	return fileInts[uint8](f, name, 0, math.MaxUint8, "uint8")
}

// Int32s returns the elements of the tensor called name as int32, and a copy
// of its shape. Any dtype converts as long as every element is a whole number
// in int32 range; otherwise the error names the first offending element.
func (f *File) Int32s(name string) ([]int32, []int, error) {
	return fileInts[int32](f, name, math.MinInt32, math.MaxInt32, "int32")
}

// Ints returns the elements of the tensor called name as int, and a copy of
// its shape. Any dtype converts as long as every element is a whole number in
// int range; otherwise the error names the first offending element.
func (f *File) Ints(name string) ([]int, []int, error) {
	return fileInts[int](f, name, math.MinInt, math.MaxInt, "int")
}

func fileInts[T integer](f *File, name string, lo, hi int64, typ string) ([]T, []int, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, nil, err
	}
	v, err := narrowInts[T](t, lo, hi, typ)
	if err != nil {
		return nil, nil, f.wrap(err)
	}
	return v, append([]int{}, t.Shape...), nil
}

// TensorInfo is one validated header entry: a tensor's name, dtype, shape and
// the byte range [Begin, End) it occupies in the data section.
type TensorInfo struct {
	Name       string
	DType      DType
	Shape      []int
	Begin, End int64
}

// Header is a validated safetensors header.
type Header struct {
	// Tensors are in the order of the JSON object.
	Tensors []TensorInfo
	// Metadata is the "__metadata__" map; empty, never nil, when absent.
	Metadata map[string]string
}

// ParseHeader parses and validates the JSON header of a safetensors file whose
// data section is dataLen bytes long. It checks that the header is one JSON
// object without duplicate keys; that every tensor entry has a known "dtype",
// a "shape" of non-negative integers whose product does not overflow, and
// "data_offsets" [begin, end) in order, inside the data section and spanning
// exactly the bytes the shape and dtype need; that the tensors neither overlap
// nor leave holes or trailing bytes; and that "__metadata__", if present, maps
// strings to strings. Errors name the tensor and what was expected versus
// found, but not the file, which the caller adds.
func ParseHeader(header []byte, dataLen int64) (*Header, error) {
	if dataLen < 0 {
		return nil, fmt.Errorf("data section length %d is negative", dataLen)
	}
	members, err := decodeObject(header)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	h := &Header{Metadata: map[string]string{}}
	for _, m := range members {
		if m.key == metadataKey {
			if h.Metadata, err = parseMetadata(m.val); err != nil {
				return nil, err
			}
			continue
		}
		info, err := parseEntry(m.key, m.val, dataLen)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, info)
	}
	if err := checkTiling(h.Tensors, dataLen); err != nil {
		return nil, err
	}
	return h, nil
}

// checkTiling checks that the tensors' byte ranges cover [0, dataLen) exactly
// once. Each range has already been checked to lie inside the data section.
func checkTiling(infos []TensorInfo, dataLen int64) error {
	order := make([]int, len(infos))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ia, ib := infos[order[a]], infos[order[b]]
		if ia.Begin != ib.Begin {
			return ia.Begin < ib.Begin
		}
		return ia.End < ib.End
	})
	var end int64
	prev := ""
	for _, i := range order {
		t := infos[i]
		switch {
		case t.Begin < end:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d) overlap tensor %q, which ends at %d",
				t.Name, t.Begin, t.End, prev, end)
		case t.Begin > end:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d) leave bytes [%d, %d) of the data section unused (%s)",
				t.Name, t.Begin, t.End, end, t.Begin, afterWhat(prev))
		}
		end, prev = t.End, t.Name
	}
	if end != dataLen {
		return fmt.Errorf("data section holds %d bytes, but the tensors cover only [0, %d); %d trailing bytes belong to no tensor",
			dataLen, end, dataLen-end)
	}
	return nil
}

func afterWhat(prev string) string {
	if prev == "" {
		return "at the start"
	}
	return fmt.Sprintf("after tensor %q", prev)
}

// parseEntry validates the header entry of one tensor.
func parseEntry(name string, raw json.RawMessage, dataLen int64) (TensorInfo, error) {
	info := TensorInfo{Name: name}
	fail := func(format string, args ...any) (TensorInfo, error) {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, fmt.Errorf(format, args...))
	}
	if err := checkName(name); err != nil {
		return fail("%v", err)
	}
	members, err := decodeObject(raw)
	if err != nil {
		return fail("want an object {\"dtype\", \"shape\", \"data_offsets\"}: %v", err)
	}
	fields := map[string]json.RawMessage{}
	for _, m := range members {
		fields[m.key] = m.val // unknown keys are ignored, as by the reference reader
	}
	for _, key := range []string{"dtype", "shape", "data_offsets"} {
		if _, ok := fields[key]; !ok {
			return fail("missing %q", key)
		}
	}

	dt, ok := jsonString(fields["dtype"])
	if !ok {
		return fail("dtype: want a string, found %s", excerpt(fields["dtype"]))
	}
	info.DType = DType(dt)
	if !info.DType.Valid() {
		return fail("unknown dtype %q (known: %s)", dt, dtypeList())
	}

	dims, err := jsonInts(fields["shape"], -1)
	if err != nil {
		return fail("shape: %v", err)
	}
	info.Shape = make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			return fail("shape %v has negative dimension %d at index %d", dims, d, i)
		}
		if d > math.MaxInt {
			return fail("shape %v: dimension %d does not fit in an int", dims, d)
		}
		info.Shape[i] = int(d)
	}
	nbytes, _, err := byteLen(info.DType, info.Shape)
	if err != nil {
		return fail("%v", err)
	}

	offs, err := jsonInts(fields["data_offsets"], 2)
	if err != nil {
		return fail("data_offsets: %v", err)
	}
	info.Begin, info.End = offs[0], offs[1]
	switch {
	case info.Begin < 0 || info.End < 0:
		return fail("data_offsets [%d, %d) are negative", info.Begin, info.End)
	case info.Begin > info.End:
		return fail("data_offsets [%d, %d) are reversed: begin is after end", info.Begin, info.End)
	case info.End > dataLen:
		return fail("data_offsets [%d, %d) run past the end of the %d-byte data section (file truncated?)",
			info.Begin, info.End, dataLen)
	case info.End-info.Begin != int64(nbytes):
		return fail("data_offsets [%d, %d) hold %d bytes, but shape %v of %s needs %d",
			info.Begin, info.End, info.End-info.Begin, info.Shape, info.DType, nbytes)
	}
	return info, nil
}

// parseMetadata validates the "__metadata__" value: an object of strings, or null.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	md := map[string]string{}
	if string(bytes.TrimSpace(raw)) == "null" {
		return md, nil
	}
	members, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: want an object of strings: %w", metadataKey, err)
	}
	for _, m := range members {
		s, ok := jsonString(m.val)
		if !ok {
			return nil, fmt.Errorf("%s: key %q: want a string value, found %s", metadataKey, m.key, excerpt(m.val))
		}
		md[m.key] = s
	}
	return md, nil
}

// member is one key/value pair of a JSON object, value undecoded.
type member struct {
	key string
	val json.RawMessage
}

// decodeObject splits a JSON object into its members in document order. It
// fails on invalid JSON, on a value that is not an object, on duplicate keys
// and on anything but whitespace after the object.
func decodeObject(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object, found %s", excerpt(raw))
	}
	var members []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		key, ok := tok.(string)
		if !ok { // the decoder only yields strings in key position; be safe anyway
			return nil, fmt.Errorf("invalid object key %v", tok)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("key %q: %w", key, jsonErr(err))
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		members = append(members, member{key, val})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, jsonErr(err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("after the object: %w", jsonErr(err))
		}
		return nil, fmt.Errorf("unexpected %v after the object", tok)
	}
	return members, nil
}

// jsonErr makes a JSON syntax error say that the header is not valid JSON.
func jsonErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON: %v (at byte %d)", se, se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("not valid JSON: unexpected end of input")
	}
	return fmt.Errorf("not valid JSON: %w", err)
}

// jsonString decodes raw if it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonInts decodes raw as an array of integers; want ≥ 0 fixes its length.
func jsonInts(raw json.RawMessage, want int) ([]int64, error) {
	raw = bytes.TrimSpace(raw)
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, fmt.Errorf("want an array of integers, found %s", excerpt(raw))
	}
	if want >= 0 && len(elems) != want {
		return nil, fmt.Errorf("want %d integers, found %d in %s", want, len(elems), excerpt(raw))
	}
	out := make([]int64, len(elems))
	for i, e := range elems {
		v, err := strconv.ParseInt(string(bytes.TrimSpace(e)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("element %d: want an integer in int64 range, found %s", i, excerpt(e))
		}
		out[i] = v
	}
	return out, nil
}

// excerpt shows a JSON value in an error message, shortened if long.
func excerpt(raw []byte) string {
	const max = 40
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "nothing"
	}
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func dtypeList() string {
	s := make([]string, len(knownDTypes))
	for i, d := range knownDTypes {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}

// ReadSafetensors reads and validates the safetensors file at path. See
// ParseHeader for the checks; errors start with "read <path>:".
func ReadSafetensors(path string) (*File, error) {
	fh, size, err := openSafetensors(path, false)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return decodeSafetensors(fh, size, path)
}

// openSafetensors opens the safetensors file at path and returns it with its
// size; with needPrefix, a file too short for the 8-byte header length
// prefix is refused. Errors start with "read <path>:" (or "read
// safetensors:" wrapping the open error, which names the path).
func openSafetensors(path string, needPrefix bool) (*os.File, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read safetensors: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	size := st.Size()
	if needPrefix && size < 8 {
		fh.Close()
		return nil, 0, fmt.Errorf("read %s: file holds %d bytes, fewer than the 8-byte header length prefix", path, size)
	}
	return fh, size, nil
}

// ParseSafetensors parses and validates a safetensors file held in memory;
// name (a path or label, may be empty) appears in errors. The tensors' data
// is copied, so data may be reused afterwards.
func ParseSafetensors(data []byte, name string) (*File, error) {
	return decodeSafetensors(bytes.NewReader(data), int64(len(data)), name)
}

// decodeSafetensors reads a size-byte safetensors file from r. It validates
// the header before allocating the data section, so a corrupt length field
// cannot trigger a huge allocation.
func decodeSafetensors(r io.ReaderAt, size int64, name string) (*File, error) {
	f, err := decodeUnnamed(r, size)
	if err != nil {
		if name == "" {
			return nil, fmt.Errorf("read safetensors: %w", err)
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	f.Path = name
	return f, nil
}

func decodeUnnamed(r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("file holds %d bytes, fewer than the 8-byte header length prefix", size)
	}
	var prefix [8]byte
	if err := readFull(r, prefix[:], 0); err != nil {
		return nil, fmt.Errorf("header length prefix: %w", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	switch {
	case n > MaxHeaderLen:
		return nil, fmt.Errorf("header length %d is absurd (limit %d bytes); not a safetensors file?", n, MaxHeaderLen)
	case n > uint64(size-8):
		return nil, fmt.Errorf("header length %d exceeds the %d bytes after the length prefix (file truncated?)", n, size-8)
	}
	header := make([]byte, n)
	if err := readFull(r, header, 8); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	dataStart := 8 + int64(n)
	h, err := ParseHeader(header, size-dataStart)
	if err != nil {
		return nil, err
	}
	data := make([]byte, size-dataStart)
	if err := readFull(r, data, dataStart); err != nil {
		return nil, fmt.Errorf("data section: %w", err)
	}
	f := &File{Metadata: h.Metadata, Tensors: make([]Tensor, len(h.Tensors))}
	for i, ti := range h.Tensors {
		f.Tensors[i] = Tensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: data[ti.Begin:ti.End:ti.End]}
	}
	return f, nil
}

// readFull fills buf from r at off; io.ReaderAt may report io.EOF together
// with a full read.
func readFull(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
