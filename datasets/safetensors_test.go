package datasets

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

// rawTensor builds a tensor of an integer or BOOL dtype by encoding values
// little-endian at the dtype's width.
func rawTensor(t *testing.T, name string, dt DType, shape []int, values ...int64) Tensor {
	t.Helper()
	size := dt.Size()
	require.NotZero(t, size, "dtype %s", dt)
	data := make([]byte, len(values)*size)
	for i, v := range values {
		switch size {
		case 1:
			data[i] = byte(v)
		case 2:
			binary.LittleEndian.PutUint16(data[2*i:], uint16(v))
		case 4:
			binary.LittleEndian.PutUint32(data[4*i:], uint32(v))
		case 8:
			binary.LittleEndian.PutUint64(data[8*i:], uint64(v))
		}
	}
	tn := Tensor{Name: name, DType: dt, Shape: shape, Data: data}
	require.NoError(t, tn.Validate())
	return tn
}

// sameFloats compares element-wise, treating NaN as equal to NaN and telling
// −0 from +0.
func sameFloats(t *testing.T, want, got []float64, msgAndArgs ...any) {
	t.Helper()
	require.Len(t, got, len(want), msgAndArgs...)
	for i := range want {
		if math.IsNaN(want[i]) {
			assert.True(t, math.IsNaN(got[i]), "element %d: want NaN, got %g", i, got[i])
			continue
		}
		assert.Equal(t, want[i], got[i], "element %d", i)
		assert.Equal(t, math.Signbit(want[i]), math.Signbit(got[i]), "sign of element %d", i)
	}
}

// writeRead writes tensors and metadata to a fresh file and reads it back.
func writeRead(t *testing.T, tensors []Tensor, metadata map[string]string) *File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.safetensors")
	require.NoError(t, WriteSafetensors(path, tensors, metadata))
	f, err := ReadSafetensors(path)
	require.NoError(t, err)
	require.Equal(t, path, f.Path)
	return f
}

func TestRoundTripEveryDType(t *testing.T) {
	inf, nan, negZero := math.Inf(1), math.NaN(), math.Copysign(0, -1)
	floatCases := []struct {
		dt   DType
		in   []float64
		want []float64 // the values after rounding to dt
	}{
		{F64,
			[]float64{0, negZero, 1.5, -2.25, 0.1, math.MaxFloat64, math.SmallestNonzeroFloat64, inf, -inf, nan},
			[]float64{0, negZero, 1.5, -2.25, 0.1, math.MaxFloat64, math.SmallestNonzeroFloat64, inf, -inf, nan}},
		{F32,
			[]float64{0, negZero, 1.5, 0.1, math.MaxFloat32, math.SmallestNonzeroFloat32, 1e39, inf, -inf, nan},
			[]float64{0, negZero, 1.5, float64(float32(0.1)), math.MaxFloat32, math.SmallestNonzeroFloat32, inf, inf, -inf, nan}},
		{F16,
			[]float64{0, negZero, 1, 0.1, 65504, 1e5, math.Ldexp(1, -24), math.Ldexp(1, -14), math.Ldexp(1, -26), inf, -inf, nan},
			[]float64{0, negZero, 1, 0.0999755859375, 65504, inf, math.Ldexp(1, -24), math.Ldexp(1, -14), 0, inf, -inf, nan}},
		{BF16,
			[]float64{0, negZero, 1, 0.1, 3.3895313892515355e38, 1e39, math.Ldexp(1, -133), math.Ldexp(1, -126), inf, -inf, nan},
			[]float64{0, negZero, 1, 0.10009765625, 3.3895313892515355e38, inf, math.Ldexp(1, -133), math.Ldexp(1, -126), inf, -inf, nan}},
	}
	for _, tc := range floatCases {
		t.Run(string(tc.dt), func(t *testing.T) {
			tn, err := TensorFromFloat64s("x", tc.dt, []int{len(tc.in)}, tc.in)
			require.NoError(t, err)
			f := writeRead(t, []Tensor{tn}, nil)
			require.Len(t, f.Tensors, 1)
			assert.Equal(t, tn, f.Tensors[0])
			got, shape, err := f.Float64s("x")
			require.NoError(t, err)
			assert.Equal(t, []int{len(tc.in)}, shape)
			sameFloats(t, tc.want, got)
		})
	}

	intCases := []struct {
		dt     DType
		values []int64
	}{
		{I64, []int64{math.MinInt64, -1, 0, math.MaxInt64}},
		{I32, []int64{math.MinInt32, -1, 0, math.MaxInt32}},
		{I16, []int64{math.MinInt16, -1, 0, math.MaxInt16}},
		{I8, []int64{math.MinInt8, -1, 0, math.MaxInt8}},
		{U64, []int64{0, 1, math.MaxInt64}},
		{U32, []int64{0, 1, math.MaxUint32}},
		{U16, []int64{0, 1, math.MaxUint16}},
		{U8, []int64{0, 1, math.MaxUint8}},
		{BOOL, []int64{0, 1, 1, 0}},
	}
	for _, tc := range intCases {
		t.Run(string(tc.dt), func(t *testing.T) {
			tn := rawTensor(t, "x", tc.dt, []int{len(tc.values)}, tc.values...)
			f := writeRead(t, []Tensor{tn}, nil)
			require.Len(t, f.Tensors, 1)
			assert.Equal(t, tn, f.Tensors[0])
			got, err := f.Tensors[0].Int64s()
			require.NoError(t, err)
			assert.Equal(t, tc.values, got)
			floats, _, err := f.Float64s("x")
			require.NoError(t, err)
			for i, v := range tc.values {
				assert.Equal(t, float64(v), floats[i], "element %d", i)
			}
		})
	}

	t.Run("U64 above MaxInt64", func(t *testing.T) {
		tn := rawTensor(t, "big", U64, []int{1}, -1) // bits of math.MaxUint64
		f := writeRead(t, []Tensor{tn}, nil)
		v, _, err := f.Float64s("big")
		require.NoError(t, err)
		assert.Equal(t, float64(math.MaxUint64), v[0])
		_, err = f.Tensors[0].Int64s()
		assert.ErrorContains(t, err, `tensor "big": element [0] = 18446744073709551615 of U64 does not fit in int64`)
	})

	t.Run("constructors", func(t *testing.T) {
		u8, err := TensorFromUint8s("m", []int{2, 2}, []uint8{0, 1, 254, 255})
		require.NoError(t, err)
		i32, err := TensorFromInt32s("r", []int{3}, []int32{math.MinInt32, 7, math.MaxInt32})
		require.NoError(t, err)
		i64, err := TensorFromInt64s("s", []int{}, []int64{math.MinInt64})
		require.NoError(t, err)
		dense := mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6})
		m, err := TensorFromMatrix("w", F32, dense)
		require.NoError(t, err)

		f := writeRead(t, []Tensor{u8, i32, i64, m}, nil)
		assert.Equal(t, []string{"m", "r", "s", "w"}, f.Names())
		gotU8, shape, err := f.Uint8s("m")
		require.NoError(t, err)
		assert.Equal(t, []uint8{0, 1, 254, 255}, gotU8)
		assert.Equal(t, []int{2, 2}, shape)
		gotI32, _, err := f.Int32s("r")
		require.NoError(t, err)
		assert.Equal(t, []int32{math.MinInt32, 7, math.MaxInt32}, gotI32)
		gotI64, err := f.Tensors[2].Int64s()
		require.NoError(t, err)
		assert.Equal(t, []int64{math.MinInt64}, gotI64)
		gotM, err := f.Matrix("w")
		require.NoError(t, err)
		assert.True(t, mat.Equal(dense, gotM), "matrix round trip: got %v", mat.Formatted(gotM))
	})
}

func TestMetadataRoundTrip(t *testing.T) {
	tn, err := TensorFromFloat64s("a", F32, []int{2}, []float64{1, 2})
	require.NoError(t, err)
	tests := []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{"nil", nil, map[string]string{}},
		{"empty", map[string]string{}, map[string]string{}},
		{"plain", map[string]string{"case": "shared_64x128", "format_version": "1"},
			map[string]string{"case": "shared_64x128", "format_version": "1"}},
		{"awkward strings", map[string]string{
			"":             "empty key",
			"quote\"slash": `back\slash`,
			"html":         "<a href='x'>&</a>",
			"unicode":      "ĥéllo — 世界 ✓",
			"control":      "tab\tnewline\nnul\x00",
			"empty value":  "",
			"__metadata__": "a key named like the section",
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.in
			}
			f := writeRead(t, []Tensor{tn}, tc.in)
			assert.Equal(t, want, f.Metadata)
			assert.Equal(t, []string{"a"}, f.Names())
		})
	}
}

func TestHeaderLayoutIsByteExact(t *testing.T) {
	a, err := TensorFromFloat64s("a", F32, []int{2}, []float64{1, -2})
	require.NoError(t, err)
	b, err := TensorFromUint8s("b<&>", []int{1, 3}, []uint8{7, 8, 9})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, EncodeSafetensors(&buf, []Tensor{a, b}, map[string]string{"z": "last", "k": "v"}))

	json := `{"__metadata__":{"k":"v","z":"last"},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"b<&>":{"dtype":"U8","shape":[1,3],"data_offsets":[8,11]}}`
	padded := json + strings.Repeat(" ", (8-len(json)%8)%8)
	var want bytes.Buffer
	require.NoError(t, binary.Write(&want, binary.LittleEndian, uint64(len(padded))))
	want.WriteString(padded)
	want.Write([]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}) // 1.0f, −2.0f
	want.Write([]byte{7, 8, 9})
	assert.Equal(t, want.Bytes(), buf.Bytes())

	// Padding for every residue: the header length is a multiple of 8, the
	// padding is spaces only (fewer than 8) and the output is deterministic.
	for n := range 9 {
		name := strings.Repeat("n", n+1)
		tn, err := TensorFromUint8s(name, []int{1}, []uint8{1})
		require.NoError(t, err)
		md := map[string]string{"b": "2", "a": "1", "c": "3"}
		var first, second bytes.Buffer
		require.NoError(t, EncodeSafetensors(&first, []Tensor{tn}, md))
		require.NoError(t, EncodeSafetensors(&second, []Tensor{tn}, md))
		require.Equal(t, first.Bytes(), second.Bytes(), "output must be deterministic")
		out := first.Bytes()
		hlen := binary.LittleEndian.Uint64(out[:8])
		require.Zero(t, hlen%8, "header length %d", hlen)
		header := string(out[8 : 8+hlen])
		trimmed := strings.TrimRight(header, " ")
		assert.True(t, strings.HasSuffix(trimmed, "}"), "header %q", header)
		assert.Less(t, len(header)-len(trimmed), 8, "at most 7 spaces of padding")
		assert.Equal(t, []byte{1}, out[8+hlen:])
	}
}

func TestAccessors(t *testing.T) {
	w, err := TensorFromFloat64s("w", F32, []int{2, 3}, []float64{1, 2.5, 3, 4, 5, 6})
	require.NoError(t, err)
	v, err := TensorFromFloat64s("v", BF16, []int{3}, []float64{1, -2, 0.5})
	require.NoError(t, err)
	mask, err := TensorFromUint8s("mask", []int{2, 2}, []uint8{1, 0, 0, 1})
	require.NoError(t, err)
	big, err := TensorFromInt64s("big", []int{2}, []int64{1, 1 << 40})
	require.NoError(t, err)
	scalar, err := TensorFromFloat64s("scalar", F64, nil, []float64{42})
	require.NoError(t, err)
	empty, err := TensorFromFloat64s("empty", F64, []int{0, 3}, nil)
	require.NoError(t, err)
	whole, err := TensorFromFloat64s("whole", F16, []int{3}, []float64{3, -1, 200})
	require.NoError(t, err)

	var buf bytes.Buffer
	require.NoError(t, EncodeSafetensors(&buf, []Tensor{w, v, mask, big, scalar, empty, whole}, nil))
	f, err := ParseSafetensors(buf.Bytes(), "acc.safetensors")
	require.NoError(t, err)

	assert.Equal(t, []string{"w", "v", "mask", "big", "scalar", "empty", "whole"}, f.Names())
	assert.True(t, f.Has("mask"))
	assert.False(t, f.Has("nope"))
	shape, err := f.Shape("w")
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3}, shape)
	shape[0] = 99 // Shape returns a copy
	assert.Equal(t, []int{2, 3}, f.Tensors[0].Shape)

	m, err := f.Matrix("w")
	require.NoError(t, err)
	assert.True(t, mat.Equal(mat.NewDense(2, 3, []float64{1, 2.5, 3, 4, 5, 6}), m))
	maskM, err := f.Matrix("mask") // any numeric dtype converts
	require.NoError(t, err)
	assert.Equal(t, 1.0, maskM.At(1, 1))
	vec, err := f.Vector("v")
	require.NoError(t, err)
	assert.Equal(t, []float64{1, -2, 0.5}, vec)
	s, shape, err := f.Float64s("scalar")
	require.NoError(t, err)
	assert.Equal(t, []float64{42}, s)
	assert.Equal(t, []int{}, shape)
	ints, _, err := f.Ints("big")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 1 << 40}, ints)
	wholeU8, _, err := f.Int32s("whole") // floats convert when they are whole numbers
	require.NoError(t, err)
	assert.Equal(t, []int32{3, -1, 200}, wholeU8)

	errTests := []struct {
		name string
		call func() error
		want string
	}{
		{"missing tensor", func() error { _, err := f.Vector("nope"); return err },
			`acc.safetensors: no tensor "nope" (the file has 7: w, v, mask, big, scalar, empty, whole)`},
		{"matrix of a vector", func() error { _, err := f.Matrix("v"); return err },
			`acc.safetensors: tensor "v": want a matrix (2-D), found shape [3] (1-D)`},
		{"matrix of a scalar", func() error { _, err := f.Matrix("scalar"); return err },
			`acc.safetensors: tensor "scalar": want a matrix (2-D), found shape [] (0-D)`},
		{"empty matrix", func() error { _, err := f.Matrix("empty"); return err },
			`acc.safetensors: tensor "empty": shape [0 3] is empty; a matrix needs at least one row and column`},
		{"vector of a matrix", func() error { _, err := f.Vector("w"); return err },
			`acc.safetensors: tensor "w": want a vector (1-D), found shape [2 3] (2-D)`},
		{"fraction to uint8", func() error { _, _, err := f.Uint8s("w"); return err },
			`acc.safetensors: tensor "w": element [0 1] = 2.5 of F32 does not fit in uint8`},
		{"negative to uint8", func() error { _, _, err := f.Uint8s("whole"); return err },
			`acc.safetensors: tensor "whole": element [1] = -1 of F16 does not fit in uint8`},
		{"int64 to int32", func() error { _, _, err := f.Int32s("big"); return err },
			`acc.safetensors: tensor "big": element [1] = 1099511627776 of I64 does not fit in int32`},
		{"missing shape", func() error { _, err := f.Shape("x"); return err }, `no tensor "x"`},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestWriteRefusesBadInput(t *testing.T) {
	good, err := TensorFromFloat64s("w", F32, []int{2}, []float64{1, 2})
	require.NoError(t, err)
	tests := []struct {
		name    string
		tensors []Tensor
		md      map[string]string
		want    string
	}{
		{"duplicate names", []Tensor{good, good}, nil, `tensor 1: duplicate tensor name "w"`},
		{"data too short", []Tensor{{Name: "w", DType: F32, Shape: []int{2}, Data: make([]byte, 3)}}, nil,
			`tensor 0: tensor "w": data holds 3 bytes, but shape [2] of F32 needs 8`},
		{"unknown dtype", []Tensor{{Name: "w", DType: "F8", Shape: []int{1}, Data: []byte{0}}}, nil,
			`tensor "w": unknown dtype "F8"`},
		{"negative dimension", []Tensor{{Name: "w", DType: U8, Shape: []int{-1}}}, nil,
			`shape [-1] has negative dimension -1 at index 0`},
		{"empty name", []Tensor{{DType: U8, Shape: []int{1}, Data: []byte{0}}}, nil, `tensor name is empty`},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: U8, Shape: []int{1}, Data: []byte{0}}}, nil,
			`tensor name "__metadata__" is reserved for metadata`},
		{"invalid UTF-8 name", []Tensor{{Name: "\xff", DType: U8, Shape: []int{1}, Data: []byte{0}}}, nil,
			`is not valid UTF-8`},
		{"invalid UTF-8 metadata", []Tensor{good}, map[string]string{"k": "\xfe"}, `__metadata__: key "k" or its value is not valid UTF-8`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.safetensors")
			err := WriteSafetensors(path, tc.tensors, tc.md)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "write "+path+": ")
			assert.Contains(t, err.Error(), tc.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "a refused write must leave nothing behind")
		})
	}

	t.Run("constructors", func(t *testing.T) {
		_, err := TensorFromFloat64s("w", U8, []int{1}, []float64{1})
		assert.EqualError(t, err, `tensor "w": dtype "U8" is not a float type (want F64, F32, F16 or BF16)`)
		_, err = TensorFromFloat64s("w", F32, []int{2, 2}, []float64{1})
		assert.EqualError(t, err, `tensor "w": 1 values given, but shape [2 2] needs 4`)
		_, err = TensorFromUint8s("", []int{1}, []uint8{1})
		assert.EqualError(t, err, `tensor name is empty`)
		_, err = TensorFromMatrix("m", F32, nil)
		assert.EqualError(t, err, `tensor "m": matrix is nil`)
	})

	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "no", "such", "dir", "x.safetensors")
		err := WriteSafetensors(path, []Tensor{good}, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "write "+path+": ")
	})
}

func TestWriteIsAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	first, err := TensorFromFloat64s("old", F64, []int{1}, []float64{1})
	require.NoError(t, err)
	second, err := TensorFromFloat64s("new", F64, []int{2}, []float64{2, 3})
	require.NoError(t, err)
	require.NoError(t, WriteSafetensors(path, []Tensor{first}, nil))
	require.NoError(t, WriteSafetensors(path, []Tensor{second}, map[string]string{"v": "2"}))

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file may remain")
	assert.Equal(t, "x.safetensors", entries[0].Name())
	info, err := entries[0].Info()
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())

	f, err := ReadSafetensors(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"new"}, f.Names())
	assert.Equal(t, map[string]string{"v": "2"}, f.Metadata)

	// A refused write leaves the previous file untouched.
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Error(t, WriteSafetensors(path, []Tensor{second, second}, nil))
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

func TestReadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.safetensors")
	_, err := ReadSafetensors(path)
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), path)
}

// stFile assembles a safetensors file from a header and a data section,
// without validation, for malformed-input tests.
func stFile(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func TestParseRejectsMalformedInput(t *testing.T) {
	entry := func(name, dtype, shape, offsets string) string {
		return `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":` + offsets + `}`
	}
	w16 := entry("W", "F32", "[4]", "[0,16]")
	tests := []struct {
		name string
		file []byte
		want []string // substrings of the error, after "read bad.safetensors: "
	}{
		{"empty file", nil, []string{"file holds 0 bytes, fewer than the 8-byte header length prefix"}},
		{"shorter than the prefix", []byte{1, 2, 3}, []string{"file holds 3 bytes"}},
		{"absurd header length",
			binary.LittleEndian.AppendUint64(nil, 1<<62),
			[]string{"header length 4611686018427387904 is absurd (limit 104857600 bytes)"}},
		{"header length past the end",
			append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...),
			[]string{"header length 100 exceeds the 2 bytes after the length prefix"}},
		{"empty header", stFile("", nil), []string{"header: not valid JSON: unexpected end of input"}},
		{"truncated JSON", stFile(`{"W":{"dtype":"F32"`, nil), []string{`header: key "W": not valid JSON: unexpected end of input`}},
		{"not JSON", stFile(`hello world`, nil), []string{"header: not valid JSON: invalid character 'h'"}},
		{"JSON array", stFile(`[1,2]`, nil), []string{"header: want a JSON object, found [1,2]"}},
		{"garbage after object", stFile(`{} x`, nil), []string{"header: after the object: not valid JSON"}},
		{"second object", stFile(`{}{}`, nil), []string{"header: unexpected { after the object"}},
		{"NUL padding", stFile("{}\x00\x00", nil), []string{"header: after the object: not valid JSON"}},
		{"duplicate tensor", stFile(`{`+w16+`,`+w16+`}`, make([]byte, 16)), []string{`header: duplicate key "W"`}},
		{"entry not an object", stFile(`{"W":5}`, nil),
			[]string{`tensor "W": want an object {"dtype", "shape", "data_offsets"}: want a JSON object, found 5`}},
		{"missing dtype", stFile(`{"W":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)),
			[]string{`tensor "W": missing "dtype"`}},
		{"missing shape", stFile(`{"W":{"dtype":"F32","data_offsets":[0,4]}}`, make([]byte, 4)),
			[]string{`tensor "W": missing "shape"`}},
		{"missing data_offsets", stFile(`{"W":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)),
			[]string{`tensor "W": missing "data_offsets"`}},
		{"dtype not a string", stFile(`{"W":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)),
			[]string{`tensor "W": dtype: want a string, found 5`}},
		{"dtype null", stFile(`{"W":{"dtype":null,"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)),
			[]string{`tensor "W": dtype: want a string, found null`}},
		{"unknown dtype", stFile(`{`+entry("W", "F8_E4M3", "[4]", "[0,4]")+`}`, make([]byte, 4)),
			[]string{`tensor "W": unknown dtype "F8_E4M3" (known: F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL)`}},
		{"lower-case dtype", stFile(`{`+entry("W", "f32", "[1]", "[0,4]")+`}`, make([]byte, 4)),
			[]string{`tensor "W": unknown dtype "f32"`}},
		{"negative dimension", stFile(`{`+entry("W", "F32", "[4,-2]", "[0,0]")+`}`, nil),
			[]string{`tensor "W": shape [4 -2] has negative dimension -2 at index 1`}},
		{"fractional dimension", stFile(`{`+entry("W", "F32", "[2.5]", "[0,10]")+`}`, make([]byte, 10)),
			[]string{`tensor "W": shape: element 0: want an integer in int64 range, found 2.5`}},
		{"dimension beyond int64", stFile(`{`+entry("W", "F32", "[99999999999999999999]", "[0,0]")+`}`, nil),
			[]string{`tensor "W": shape: element 0: want an integer in int64 range, found 99999999999999999999`}},
		{"shape not an array", stFile(`{`+entry("W", "F32", `"4x4"`, "[0,64]")+`}`, make([]byte, 64)),
			[]string{`tensor "W": shape: want an array of integers, found "4x4"`}},
		{"shape element count overflow", stFile(`{`+entry("W", "U8", "[4294967296,4294967296,4]", "[0,0]")+`}`, nil),
			[]string{`tensor "W": shape [4294967296 4294967296 4] has more elements than fit in an int`}},
		{"shape byte count overflow", stFile(`{`+entry("W", "F64", "[2305843009213693952]", "[0,0]")+`}`, nil),
			[]string{`tensor "W": shape [2305843009213693952] of F64 needs more bytes than fit in an int`}},
		{"offsets reversed", stFile(`{`+entry("W", "F32", "[0]", "[16,0]")+`}`, make([]byte, 16)),
			[]string{`tensor "W": data_offsets [16, 0) are reversed: begin is after end`}},
		{"offsets negative", stFile(`{`+entry("W", "F32", "[4]", "[-16,0]")+`}`, make([]byte, 16)),
			[]string{`tensor "W": data_offsets [-16, 0) are negative`}},
		{"one offset", stFile(`{`+entry("W", "F32", "[4]", "[16]")+`}`, make([]byte, 16)),
			[]string{`tensor "W": data_offsets: want 2 integers, found 1 in [16]`}},
		{"offsets out of range", stFile(`{`+entry("W", "F32", "[4]", "[100,116]")+`}`, make([]byte, 16)),
			[]string{`tensor "W": data_offsets [100, 116) run past the end of the 16-byte data section (file truncated?)`}},
		{"truncated data",
			stFile(`{`+entry("W", "F32", "[4,8]", "[0,128]")+`}`, make([]byte, 100)),
			[]string{`tensor "W": data_offsets [0, 128) run past the end of the 100-byte data section (file truncated?)`}},
		{"offsets disagree with shape",
			stFile(`{`+entry("W", "F32", "[4,8]", "[0,100]")+`}`, make([]byte, 100)),
			[]string{`tensor "W": data_offsets [0, 100) hold 100 bytes, but shape [4 8] of F32 needs 128`}},
		{"overlapping tensors",
			stFile(`{`+entry("A", "F32", "[4]", "[0,16]")+`,`+entry("B", "F32", "[4]", "[8,24]")+`}`, make([]byte, 24)),
			[]string{`tensor "B": data_offsets [8, 24) overlap tensor "A", which ends at 16`}},
		{"overlap listed in reverse order",
			stFile(`{`+entry("B", "F32", "[4]", "[8,24]")+`,`+entry("A", "F32", "[4]", "[0,16]")+`}`, make([]byte, 24)),
			[]string{`tensor "B": data_offsets [8, 24) overlap tensor "A", which ends at 16`}},
		{"hole between tensors",
			stFile(`{`+entry("A", "F32", "[2]", "[0,8]")+`,`+entry("B", "F32", "[2]", "[16,24]")+`}`, make([]byte, 24)),
			[]string{`tensor "B": data_offsets [16, 24) leave bytes [8, 16) of the data section unused (after tensor "A")`}},
		{"hole at the start",
			stFile(`{`+entry("A", "F32", "[2]", "[4,12]")+`}`, make([]byte, 12)),
			[]string{`tensor "A": data_offsets [4, 12) leave bytes [0, 4) of the data section unused (at the start)`}},
		{"trailing bytes",
			stFile(`{`+entry("A", "F32", "[2]", "[0,8]")+`}`, make([]byte, 12)),
			[]string{`data section holds 12 bytes, but the tensors cover only [0, 8); 4 trailing bytes belong to no tensor`}},
		{"empty tensor name", stFile(`{`+entry("", "F32", "[1]", "[0,4]")+`}`, make([]byte, 4)),
			[]string{`tensor "": tensor name is empty`}},
		{"metadata value not a string", stFile(`{"__metadata__":{"case":"x","version":1}}`, nil),
			[]string{`__metadata__: key "version": want a string value, found 1`}},
		{"metadata value null", stFile(`{"__metadata__":{"k":null}}`, nil),
			[]string{`__metadata__: key "k": want a string value, found null`}},
		{"metadata nested object", stFile(`{"__metadata__":{"k":{"a":"b"}}}`, nil),
			[]string{`__metadata__: key "k": want a string value, found {"a":"b"}`}},
		{"metadata not an object", stFile(`{"__metadata__":"v1"}`, nil),
			[]string{`__metadata__: want an object of strings: want a JSON object, found "v1"`}},
		{"duplicate metadata", stFile(`{"__metadata__":{},"__metadata__":{}}`, nil),
			[]string{`header: duplicate key "__metadata__"`}},
		{"duplicate metadata key", stFile(`{"__metadata__":{"a":"1","a":"2"}}`, nil),
			[]string{`__metadata__: want an object of strings: duplicate key "a"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseSafetensors(tc.file, "bad.safetensors")
			require.Error(t, err, "parsed: %+v", f)
			assert.Nil(t, f)
			assert.True(t, strings.HasPrefix(err.Error(), "read bad.safetensors: "), "error %q must name the file", err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	t.Run("exact message", func(t *testing.T) {
		_, err := ParseSafetensors(stFile(`{`+entry("W", "F32", "[4,8]", "[0,100]")+`}`, make([]byte, 100)), "x.safetensors")
		assert.EqualError(t, err, `read x.safetensors: tensor "W": data_offsets [0, 100) hold 100 bytes, but shape [4 8] of F32 needs 128`)
	})

	t.Run("from disk, truncated", func(t *testing.T) {
		tn, err := TensorFromFloat64s("W", F32, []int{4, 8}, make([]float64, 32))
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, EncodeSafetensors(&buf, []Tensor{tn}, nil))
		path := filepath.Join(t.TempDir(), "cut.safetensors")
		require.NoError(t, os.WriteFile(path, buf.Bytes()[:buf.Len()-5], 0o644))
		_, err = ReadSafetensors(path)
		assert.EqualError(t, err, "read "+path+`: tensor "W": data_offsets [0, 128) run past the end of the 123-byte data section (file truncated?)`)
	})

	t.Run("anonymous input", func(t *testing.T) {
		_, err := ParseSafetensors([]byte{1}, "")
		assert.EqualError(t, err, "read safetensors: file holds 1 bytes, fewer than the 8-byte header length prefix")
	})

	t.Run("ParseHeader negative data length", func(t *testing.T) {
		_, err := ParseHeader([]byte(`{}`), -1)
		assert.EqualError(t, err, "data section length -1 is negative")
	})
}

func TestParseAcceptsEdgeCases(t *testing.T) {
	tests := []struct {
		name   string
		file   []byte
		names  []string
		shapes [][]int
		md     map[string]string
	}{
		{"no tensors", stFile(`{}`, nil), nil, nil, map[string]string{}},
		{"whitespace everywhere", stFile(" \n{ \"A\" : { \"dtype\" : \"U8\" , \"shape\" : [ 2 ] , \"data_offsets\" : [ 0 , 2 ] } }\t\r\n  ", []byte{1, 2}),
			[]string{"A"}, [][]int{{2}}, map[string]string{}},
		{"metadata null", stFile(`{"__metadata__":null}`, nil), nil, nil, map[string]string{}},
		{"unknown entry fields are ignored", stFile(`{"A":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":[1,2]}}`, []byte{9}),
			[]string{"A"}, [][]int{{1}}, map[string]string{}},
		{"data order differs from header order",
			stFile(`{"B":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},"A":{"dtype":"U16","shape":[],"data_offsets":[0,2]}}`, []byte{1, 2, 3}),
			[]string{"B", "A"}, [][]int{{1}, {}}, map[string]string{}},
		{"zero-size tensors",
			stFile(`{"E":{"dtype":"F64","shape":[0,5],"data_offsets":[0,0]},"F":{"dtype":"F64","shape":[5,0],"data_offsets":[0,0]}}`, nil),
			[]string{"E", "F"}, [][]int{{0, 5}, {5, 0}}, map[string]string{}},
		{"escaped names", stFile(`{"\u00e9\n":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}`, []byte{1}),
			[]string{"é\n"}, [][]int{{1}}, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseSafetensors(tc.file, "ok.safetensors")
			require.NoError(t, err)
			assert.Equal(t, len(tc.names), len(f.Tensors))
			for i, name := range tc.names {
				assert.Equal(t, name, f.Tensors[i].Name)
				assert.Equal(t, tc.shapes[i], f.Tensors[i].Shape)
			}
			assert.Equal(t, tc.md, f.Metadata)
		})
	}

	t.Run("tensors do not alias the input or each other", func(t *testing.T) {
		in := stFile(`{"A":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"B":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2})
		f, err := ParseSafetensors(in, "")
		require.NoError(t, err)
		in[len(in)-1] = 99
		assert.Equal(t, []byte{2}, f.Tensors[1].Data)
		_ = append(f.Tensors[0].Data, 77)
		assert.Equal(t, []byte{2}, f.Tensors[1].Data, "appending to one tensor must not overwrite the next")
	})
}
