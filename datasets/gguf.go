package datasets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/prunebench/armor/internal/atomicfile"
)

// GGUF (version 3) is llama.cpp's model file: a header with typed key-value
// metadata and tensor descriptors, then the tensor data, each tensor aligned
// to general.alignment (32 bytes by default). All numbers are little-endian.
// Tensor dimensions are written innermost first (a row-major [rows, cols]
// matrix is ne = [cols, rows]).
const (
	ggufMagic     = "GGUF"
	ggufVersion   = 3
	GGUFAlignment = 32
)

// GGUF value types.
const (
	ggufUint8   uint32 = 0
	ggufInt8    uint32 = 1
	ggufUint16  uint32 = 2
	ggufInt16   uint32 = 3
	ggufUint32  uint32 = 4
	ggufInt32   uint32 = 5
	ggufFloat32 uint32 = 6
	ggufBool    uint32 = 7
	ggufString  uint32 = 8
	ggufArray   uint32 = 9
	ggufUint64  uint32 = 10
	ggufInt64   uint32 = 11
	ggufFloat64 uint32 = 12
)

// GGML tensor types the writer supports.
const (
	GGMLTypeF32 uint32 = 0
	GGMLTypeF16 uint32 = 1
)

// GGUFKV is one metadata entry. Value is one of string, uint32, int32,
// uint64, float32, float64, bool, []string, []float32, []int32 or []uint32.
type GGUFKV struct {
	Key   string
	Value any
}

// GGUFFile is a parsed GGUF file (ReadGGUF).
type GGUFFile struct {
	Version uint32
	// Meta holds the metadata in file order; Get looks a key up.
	Meta    []GGUFKV
	Tensors []Tensor
}

// Get returns the value of key and whether it is present.
func (g *GGUFFile) Get(key string) (any, bool) {
	for _, kv := range g.Meta {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// Tensor returns the tensor called name.
func (g *GGUFFile) Tensor(name string) (Tensor, bool) {
	for _, t := range g.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

func ggmlType(d DType) (uint32, error) {
	switch d {
	case F32:
		return GGMLTypeF32, nil
	case F16:
		return GGMLTypeF16, nil
	}
	return 0, fmt.Errorf("dtype %s: GGUF export supports F32 and F16", d)
}

// WriteGGUF writes meta and tensors (F32 or F16, row-major shapes as in
// safetensors) to path as a GGUF v3 file, atomically.
func WriteGGUF(path string, meta []GGUFKV, tensors []Tensor) error {
	return atomicfile.Write(path, func(w *bufio.Writer) error {
		if err := EncodeGGUF(w, meta, tensors); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	})
}

// EncodeGGUF writes a GGUF v3 file to w (see WriteGGUF). It validates every
// tensor and metadata value before writing anything.
func EncodeGGUF(w io.Writer, meta []GGUFKV, tensors []Tensor) error {
	var hdr bytes.Buffer
	hdr.WriteString(ggufMagic)
	le := func(v any) { _ = binary.Write(&hdr, binary.LittleEndian, v) }
	le(uint32(ggufVersion))
	le(uint64(len(tensors)))
	le(uint64(len(meta)))
	seen := map[string]bool{}
	for _, kv := range meta {
		if seen[kv.Key] {
			return fmt.Errorf("gguf: metadata key %q twice", kv.Key)
		}
		seen[kv.Key] = true
		writeGGUFString(&hdr, kv.Key)
		if err := writeGGUFValue(&hdr, kv.Value); err != nil {
			return fmt.Errorf("gguf: metadata %s: %w", kv.Key, err)
		}
	}
	offset := uint64(0)
	names := map[string]bool{}
	for _, t := range tensors {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
		if names[t.Name] {
			return fmt.Errorf("gguf: tensor %q twice", t.Name)
		}
		names[t.Name] = true
		typ, err := ggmlType(t.DType)
		if err != nil {
			return fmt.Errorf("gguf: tensor %s: %w", t.Name, err)
		}
		writeGGUFString(&hdr, t.Name)
		le(uint32(len(t.Shape)))
		for i := len(t.Shape) - 1; i >= 0; i-- {
			le(uint64(t.Shape[i]))
		}
		le(typ)
		le(offset)
		offset += alignUp(uint64(len(t.Data)))
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	pad := make([]byte, GGUFAlignment)
	if _, err := w.Write(pad[:alignUp(uint64(hdr.Len()))-uint64(hdr.Len())]); err != nil {
		return err
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
		n := uint64(len(t.Data))
		if _, err := w.Write(pad[:alignUp(n)-n]); err != nil {
			return err
		}
	}
	return nil
}

func alignUp(n uint64) uint64 { return (n + GGUFAlignment - 1) / GGUFAlignment * GGUFAlignment }

func writeGGUFString(b *bytes.Buffer, s string) {
	_ = binary.Write(b, binary.LittleEndian, uint64(len(s)))
	b.WriteString(s)
}

func writeGGUFValue(b *bytes.Buffer, v any) error {
	le := func(x any) { _ = binary.Write(b, binary.LittleEndian, x) }
	arr := func(typ uint32, n int) { le(ggufArray); le(typ); le(uint64(n)) }
	switch x := v.(type) {
	case string:
		le(ggufString)
		writeGGUFString(b, x)
	case uint32:
		le(ggufUint32)
		le(x)
	case int32:
		le(ggufInt32)
		le(x)
	case uint64:
		le(ggufUint64)
		le(x)
	case float32:
		le(ggufFloat32)
		le(x)
	case float64:
		le(ggufFloat64)
		le(x)
	case bool:
		le(ggufBool)
		if x {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
	case []string:
		arr(ggufString, len(x))
		for _, s := range x {
			writeGGUFString(b, s)
		}
	case []float32:
		arr(ggufFloat32, len(x))
		le(x)
	case []int32:
		arr(ggufInt32, len(x))
		le(x)
	case []uint32:
		arr(ggufUint32, len(x))
		le(x)
	default:
		return fmt.Errorf("unsupported value type %T", v)
	}
	return nil
}

// ReadGGUF parses a GGUF v2/v3 file: metadata (every value type, arrays of
// scalars and strings) and the F32/F16 tensors, with shapes turned back to
// row-major order. Other tensor types are an error naming the tensor.
func ReadGGUF(path string) (*GGUFFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := ParseGGUF(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// ggufReader reads little-endian values from a byte slice with bounds checks.
type ggufReader struct {
	b   []byte
	off int
	err error
}

func (r *ggufReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.err = fmt.Errorf("truncated at byte %d (need %d more)", r.off, n)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *ggufReader) u32() uint32 {
	if s := r.take(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (r *ggufReader) u64() uint64 {
	if s := r.take(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (r *ggufReader) str() string { return string(r.take(r.u64())) }

func (r *ggufReader) scalar(typ uint32) any {
	switch typ {
	case ggufUint8:
		if s := r.take(1); s != nil {
			return s[0]
		}
	case ggufInt8:
		if s := r.take(1); s != nil {
			return int8(s[0])
		}
	case ggufUint16:
		if s := r.take(2); s != nil {
			return binary.LittleEndian.Uint16(s)
		}
	case ggufInt16:
		if s := r.take(2); s != nil {
			return int16(binary.LittleEndian.Uint16(s))
		}
	case ggufUint32:
		return r.u32()
	case ggufInt32:
		return int32(r.u32())
	case ggufFloat32:
		return math.Float32frombits(r.u32())
	case ggufBool:
		if s := r.take(1); s != nil {
			return s[0] != 0
		}
	case ggufString:
		return r.str()
	case ggufUint64:
		return r.u64()
	case ggufInt64:
		return int64(r.u64())
	case ggufFloat64:
		return math.Float64frombits(r.u64())
	default:
		if r.err == nil {
			r.err = fmt.Errorf("unknown value type %d at byte %d", typ, r.off)
		}
	}
	return nil
}

func (r *ggufReader) value(typ uint32) any {
	if typ != ggufArray {
		return r.scalar(typ)
	}
	et, n := r.u32(), r.u64()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("array of %d elements is longer than the file", n)
		return nil
	}
	switch et {
	case ggufString:
		out := make([]string, 0, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			out = append(out, r.str())
		}
		return out
	case ggufFloat32:
		out := make([]float32, 0, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			out = append(out, math.Float32frombits(r.u32()))
		}
		return out
	case ggufInt32:
		out := make([]int32, 0, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			out = append(out, int32(r.u32()))
		}
		return out
	default:
		out := make([]any, 0, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			out = append(out, r.scalar(et))
		}
		return out
	}
}

// ParseGGUF parses the bytes of a GGUF file (see ReadGGUF).
func ParseGGUF(data []byte) (*GGUFFile, error) {
	r := &ggufReader{b: data}
	if string(r.take(4)) != ggufMagic {
		return nil, errors.New("not a GGUF file (magic)")
	}
	g := &GGUFFile{Version: r.u32()}
	if r.err == nil && g.Version != 2 && g.Version != 3 {
		return nil, fmt.Errorf("GGUF version %d, want 2 or 3", g.Version)
	}
	nt, nkv := r.u64(), r.u64()
	if r.err == nil && (nt > uint64(len(data)) || nkv > uint64(len(data))) {
		return nil, fmt.Errorf("%d tensors and %d metadata entries do not fit in %d bytes", nt, nkv, len(data))
	}
	align := uint64(GGUFAlignment)
	for i := uint64(0); i < nkv && r.err == nil; i++ {
		k := r.str()
		v := r.value(r.u32())
		if k == "general.alignment" {
			if a, ok := v.(uint32); ok && a > 0 {
				align = uint64(a)
			}
		}
		g.Meta = append(g.Meta, GGUFKV{Key: k, Value: v})
	}
	type info struct {
		name   string
		shape  []int
		typ    uint32
		offset uint64
	}
	var infos []info
	for i := uint64(0); i < nt && r.err == nil; i++ {
		in := info{name: r.str()}
		nd := r.u32()
		if nd > 8 {
			return nil, fmt.Errorf("tensor %s: %d dimensions", in.name, nd)
		}
		ne := make([]int, nd)
		for d := range ne {
			ne[d] = int(r.u64())
		}
		for d := len(ne) - 1; d >= 0; d-- {
			in.shape = append(in.shape, ne[d])
		}
		in.typ, in.offset = r.u32(), r.u64()
		infos = append(infos, in)
	}
	if r.err != nil {
		return nil, r.err
	}
	start := (uint64(r.off) + align - 1) / align * align
	for _, in := range infos {
		var dt DType
		switch in.typ {
		case GGMLTypeF32:
			dt = F32
		case GGMLTypeF16:
			dt = F16
		default:
			return nil, fmt.Errorf("tensor %s: ggml type %d is not F32 or F16", in.name, in.typ)
		}
		n, _, err := byteLen(dt, in.shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", in.name, err)
		}
		if in.offset%align != 0 || start+in.offset+uint64(n) > uint64(len(data)) {
			return nil, fmt.Errorf("tensor %s: data at offset %d (+%d bytes) is misaligned or past the end of the file", in.name, in.offset, n)
		}
		off := start + in.offset
		g.Tensors = append(g.Tensors, Tensor{Name: in.name, DType: dt, Shape: in.shape, Data: data[off : off+uint64(n)]})
	}
	return g, nil
}
