package datasets

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseSafetensors feeds arbitrary bytes to the parser. It must never
// panic; a rejected input must get an error naming the input; an accepted
// input must survive the accessors and re-encode into a file that parses to
// the same tensors and metadata and re-encodes to the same bytes. The seed
// corpus lives in testdata/fuzz/FuzzParseSafetensors.
func FuzzParseSafetensors(f *testing.F) {
	f.Add(stFile(`{"__metadata__":{"k":"v"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, []byte{0, 0x3c, 0, 0x7c}))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, []byte{1, 2}))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseSafetensors(data, "fuzz")
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "read fuzz: "), "error %q must name the input", err)
			return
		}
		for _, tn := range file.Tensors {
			_, err := tn.Float64s()
			require.NoError(t, err, "accepted tensor %q must decode", tn.Name)
			// These may fail on rank or range, but must not panic.
			_, _ = tn.Int64s()
			_, _ = file.Matrix(tn.Name)
			_, _ = file.Vector(tn.Name)
			_, _, _ = file.Uint8s(tn.Name)
			_, _, _ = file.Int32s(tn.Name)
			_, _, _ = file.Ints(tn.Name)
		}

		var first bytes.Buffer
		require.NoError(t, EncodeSafetensors(&first, file.Tensors, file.Metadata), "re-encoding an accepted file")
		again, err := ParseSafetensors(first.Bytes(), "re-encoded")
		require.NoError(t, err, "parsing the re-encoded file")
		require.Equal(t, file.Metadata, again.Metadata)
		require.Equal(t, len(file.Tensors), len(again.Tensors))
		for i, want := range file.Tensors {
			got := again.Tensors[i]
			require.Equal(t, want.Name, got.Name)
			require.Equal(t, want.DType, got.DType)
			require.Equal(t, want.Shape, got.Shape)
			require.True(t, bytes.Equal(want.Data, got.Data), "data of %q", want.Name)
		}
		var second bytes.Buffer
		require.NoError(t, EncodeSafetensors(&second, again.Tensors, again.Metadata))
		require.Equal(t, first.Bytes(), second.Bytes(), "encoding must be a fixed point")
	})
}

// TestFuzzSeedCorpus checks the committed seed corpus says what its file
// names say: files named valid_* parse, all others are rejected.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParseSafetensors")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			lines := strings.SplitN(strings.TrimSpace(string(raw)), "\n", 2)
			require.Len(t, lines, 2)
			require.Equal(t, "go test fuzz v1", lines[0])
			lit, ok := strings.CutPrefix(lines[1], "[]byte(")
			require.True(t, ok, "corpus value must be a []byte")
			lit, ok = strings.CutSuffix(lit, ")")
			require.True(t, ok)
			data, err := strconv.Unquote(lit)
			require.NoError(t, err)
			_, err = ParseSafetensors([]byte(data), e.Name())
			if strings.HasPrefix(e.Name(), "valid_") {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
