package datasets

import (
	"encoding/binary"
	"encoding/json"
	"github.com/prunebench/armor/internal/shared"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedDir returns the project's shared directory, ../shared next to the
// repository root; the test fails, not skips, when it is missing.
func sharedDir(t *testing.T) string {
	t.Helper()
	return shared.Path(t)
}

// sidecar is the part of a fixture's JSON sidecar these tests check against.
type sidecar struct {
	Case    string `json:"case"`
	DOut    int    `json:"d_out"`
	DIn     int    `json:"d_in"`
	NCalib  int    `json:"n_calib"`
	Tensors map[string]struct {
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
	} `json:"tensors"`
	OptionalAbsent []string `json:"optional_tensors_absent"`
}

// relErr is |got − want| / |want|, or |got| when want is 0.
func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestGoldenShared64x128(t *testing.T) {
	f, err := ReadSafetensors(filepath.Join(sharedDir(t), "fixtures", "reference", "shared_64x128.safetensors"))
	require.NoError(t, err)

	for _, tc := range []struct {
		name  string
		dtype DType
		shape []int
	}{
		{"X", BF16, []int{512, 128}},
		{"W", F32, []int{64, 128}},
		{"hessian_diag", F64, []int{128}},
		{"wanda_mask", U8, []int{64, 128}},
		{"armor_step_rows", I32, []int{8}},
	} {
		tn, err := f.Tensor(tc.name)
		require.NoError(t, err)
		assert.Equal(t, tc.dtype, tn.DType, tc.name)
		assert.Equal(t, tc.shape, tn.Shape, tc.name)
	}
	assert.Equal(t, map[string]string{"case": "shared_64x128", "format_version": "1"}, f.Metadata)

	// hessian_diag = (2/n) Σ_t X_tj², from the BF16 X: an independent check of
	// the BF16 decoding (and of F64), to 1e-12 relative.
	x, err := f.Matrix("X")
	require.NoError(t, err)
	h, err := f.Vector("hessian_diag")
	require.NoError(t, err)
	n, d := x.Dims()
	for j := range d {
		var sum float64
		for i := range n {
			sum += x.At(i, j) * x.At(i, j)
		}
		want := 2 / float64(n) * sum
		assert.LessOrEqual(t, relErr(h[j], want), 1e-12, "hessian_diag[%d] = %g, (2/n) Σ X² = %g", j, h[j], want)
	}
}

// TestGoldenAllShared reads every shared fixture and checks it against its JSON
// sidecar and against relations between its tensors.
func TestGoldenAllShared(t *testing.T) {
	ref := filepath.Join(sharedDir(t), "fixtures", "reference")
	for _, name := range []string{"shared_64x128", "shared_128x256", "shared_256x512"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(ref, name+".safetensors")
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			f, err := ReadSafetensors(path)
			require.NoError(t, err)
			js, err := os.ReadFile(filepath.Join(ref, name+".json"))
			require.NoError(t, err)
			var side sidecar
			require.NoError(t, json.Unmarshal(js, &side))

			// Every tensor the sidecar lists, with its dtype and shape; the
			// absent optional ones are absent.
			assert.Equal(t, side.Case, f.Metadata["case"])
			assert.Len(t, f.Tensors, len(side.Tensors))
			for tname, want := range side.Tensors {
				tn, err := f.Tensor(tname)
				require.NoError(t, err)
				assert.Equal(t, DType(want.DType), tn.DType, tname)
				assert.Equal(t, want.Shape, tn.Shape, tname)
			}
			for _, absent := range side.OptionalAbsent {
				assert.False(t, f.Has(absent), "optional tensor %s is listed as absent", absent)
			}

			// s_j = (1/n) Σ X_tj² and h = 2s.
			x, err := f.Matrix("X")
			require.NoError(t, err)
			s, err := f.Vector("wanda_scaler_row")
			require.NoError(t, err)
			h, err := f.Vector("hessian_diag")
			require.NoError(t, err)
			for j := range side.DIn {
				var sum float64
				for i := range side.NCalib {
					sum += x.At(i, j) * x.At(i, j)
				}
				assert.LessOrEqual(t, relErr(s[j], sum/float64(side.NCalib)), 1e-12, "wanda_scaler_row[%d]", j)
				assert.LessOrEqual(t, relErr(h[j], 2*s[j]), 1e-15, "hessian_diag[%d]", j)
			}

			// Masks are 0/1 with exactly two kept entries per group of four.
			for _, mname := range []string{"wanda_mask", "nowag_mask", "sparsegpt_mask"} {
				mask, shape, err := f.Uint8s(mname)
				require.NoError(t, err)
				require.Equal(t, []int{side.DOut, side.DIn}, shape)
				for g := 0; g < len(mask); g += 4 {
					kept := 0
					for _, m := range mask[g : g+4] {
						require.LessOrEqual(t, m, uint8(1), "%s entry %d", mname, g)
						kept += int(m)
					}
					require.Equal(t, 2, kept, "%s group at flat index %d", mname, g)
				}
			}

			// wanda_W = W ⊙ wanda_mask exactly (F32 widened against F64).
			if f.Has("wanda_W") {
				w, _, err := f.Float64s("W")
				require.NoError(t, err)
				mask, _, err := f.Uint8s("wanda_mask")
				require.NoError(t, err)
				ww, _, err := f.Float64s("wanda_W")
				require.NoError(t, err)
				for i := range w {
					require.Equal(t, w[i]*float64(mask[i]), ww[i], "wanda_W flat index %d", i)
				}
			}

			// Re-encoding keeps order and every byte of the data section.
			out := filepath.Join(t.TempDir(), name+".safetensors")
			require.NoError(t, WriteSafetensors(out, f.Tensors, f.Metadata))
			again, err := ReadSafetensors(out)
			require.NoError(t, err)
			assert.Equal(t, f.Tensors, again.Tensors)
			assert.Equal(t, f.Metadata, again.Metadata)
			written, err := os.ReadFile(out)
			require.NoError(t, err)
			dataStart := func(b []byte) int { return 8 + int(binary.LittleEndian.Uint64(b[:8])) }
			assert.Equal(t, raw[dataStart(raw):], written[dataStart(written):], "data section")
		})
	}
}
