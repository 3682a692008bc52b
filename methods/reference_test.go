package methods_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/methods"
)

// Tolerances from ../shared/fixtures/reference/README.md.
const (
	tolStats  = 1e-12 // statistics and norms, relative
	tolValues = 1e-9  // values, relative to max |value|
	tolLoss   = 1e-9  // losses and output errors, relative
)

// refCase is one golden case: its tensors and its JSON sidecar.
type refCase struct {
	name string
	f    *datasets.File
	meta refMeta
}

type refMeta struct {
	Results struct {
		ProxyLoss      map[string]float64 `json:"proxy_loss"`
		OutputRelError map[string]float64 `json:"output_rel_error"`
	} `json:"results"`
	ArmorStep struct {
		BlockSize  int     `json:"block_size"`
		Selected   int     `json:"n_groups_selected"`
		Changed    int     `json:"n_groups_changed_support"`
		LossBefore float64 `json:"proxy_loss_before"`
		LossAfter  float64 `json:"proxy_loss_after"`
	} `json:"armor_step"`
	ArmorRuns struct {
		Runs []armorRun `json:"runs"`
	} `json:"armor_runs"`
}

// armorRun is one of the authors' recorded ARMOR runs.
type armorRun struct {
	BlockSize int                `json:"block_size"`
	LR        float64            `json:"lr"`
	Losses    map[string]float64 `json:"proxy_loss_after_iters"`
	ItersRun  int                `json:"iters_run"`
}

func loadCases(t *testing.T) []refCase {
	t.Helper()
	dir := shared.Path(t, "fixtures", "reference")
	files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no reference cases in %s", dir)
	var out []refCase
	for _, p := range files {
		f, err := datasets.ReadSafetensors(p)
		require.NoError(t, err)
		raw, err := os.ReadFile(strings.TrimSuffix(p, ".safetensors") + ".json")
		require.NoError(t, err)
		var m refMeta
		require.NoError(t, json.Unmarshal(raw, &m), p)
		out = append(out, refCase{name: filepath.Base(strings.TrimSuffix(p, ".safetensors")), f: f, meta: m})
	}
	return out
}

func (c refCase) matrix(t *testing.T, name string) *mat.Dense {
	t.Helper()
	m, err := c.f.Matrix(name)
	require.NoError(t, err, "%s: %s", c.name, name)
	return m
}

func (c refCase) vector(t *testing.T, name string) []float64 {
	t.Helper()
	v, err := c.f.Vector(name)
	require.NoError(t, err, "%s: %s", c.name, name)
	return v
}

func (c refCase) mask(t *testing.T, name string) []bool {
	t.Helper()
	u, _, err := c.f.Uint8s(name)
	require.NoError(t, err, "%s: %s", c.name, name)
	out := make([]bool, len(u))
	for k, v := range u {
		out[k] = v != 0
	}
	return out
}

// layer builds the layer from W and X, computing every statistic ourselves.
func (c refCase) layer(t *testing.T) *methods.Layer {
	W, X := c.matrix(t, "W"), c.matrix(t, "X")
	st, err := methods.StatsFromActivations(X, true)
	require.NoError(t, err)
	return &methods.Layer{W: W, Stats: st, X: X}
}

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func assertVecRel(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	require.Equal(t, len(want), len(got), what)
	for k := range want {
		if relErr(got[k], want[k]) > tol {
			t.Fatalf("%s[%d] = %.17g, want %.17g (rel. error %.3g > %.1g)", what, k, got[k], want[k], relErr(got[k], want[k]), tol)
		}
	}
}

func TestReferenceStatistics(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			l := c.layer(t)
			assertVecRel(t, "hessian_diag", l.Stats.Hdiag, c.vector(t, "hessian_diag"), tolStats)
			assertVecRel(t, "wanda_scaler_row", l.Stats.WandaNorm, c.vector(t, "wanda_scaler_row"), tolStats)
			norm := methods.Normalize(l.W)
			assertVecRel(t, "nowag_col_norms", norm.C, c.vector(t, "nowag_col_norms"), tolStats)
			assertVecRel(t, "nowag_row_norms", norm.R, c.vector(t, "nowag_row_norms"), tolStats)
			if c.f.Has("H") {
				H := c.matrix(t, "H")
				n, _ := H.Dims()
				worst := 0.0
				for i := 0; i < n; i++ {
					for j := 0; j < n; j++ {
						worst = math.Max(worst, math.Abs(l.Stats.H.At(i, j)-H.At(i, j)))
					}
				}
				assert.LessOrEqual(t, worst/mat.Max(H), tolStats, "H")
			}
		})
	}
}

// TestReferenceMasksAndLosses checks Wanda, NoWag-P and SparseGPT against the
// authors' outputs: identical masks, SparseGPT values, losses and errors.
func TestReferenceMasksAndLosses(t *testing.T) {
	type check struct {
		method, key, maskName, denseName, valuesName string
	}
	checks := []check{
		{"wanda", "wanda", "wanda_mask", "wanda_W", ""},
		{"nowag", "nowag_p", "nowag_mask", "nowag_W", ""},
		{"sparsegpt", "sparsegpt", "sparsegpt_mask", "sparsegpt_W", "sparsegpt_values"},
	}
	for _, c := range loadCases(t) {
		l := c.layer(t)
		for _, ck := range checks {
			t.Run(c.name+"/"+ck.method, func(t *testing.T) {
				m, err := methods.New(ck.method, methods.DefaultConfig())
				require.NoError(t, err)
				res, err := m.Prune(l)
				require.NoError(t, err)
				want := c.mask(t, ck.maskName)
				diff := 0
				for k := range want {
					if want[k] != res.Mask.Keep[k] {
						diff++
					}
				}
				assert.Zero(t, diff, "%s mask differs in %d entries", ck.method, diff)
				require.NoError(t, res.Mask.Satisfies(methods.Pattern24))
				if ck.valuesName != "" {
					vals := c.matrix(t, ck.valuesName)
					assertPacked(t, res.What, res.Mask, vals)
				}
				if c.f.Has(ck.denseName) {
					dense := c.matrix(t, ck.denseName)
					var d mat.Dense
					d.Sub(res.What, dense)
					assert.LessOrEqual(t, mat.Norm(&d, math.Inf(1)), tolValues*mat.Norm(dense, math.Inf(1))+1e-300, ck.denseName)
				}
				assert.LessOrEqual(t, relErr(res.ProxyLoss, c.meta.Results.ProxyLoss[ck.key]), tolLoss,
					"proxy loss %.17g, want %.17g", res.ProxyLoss, c.meta.Results.ProxyLoss[ck.key])
				assert.LessOrEqual(t, relErr(res.OutputError, c.meta.Results.OutputRelError[ck.key]), tolLoss,
					"output error %.17g, want %.17g", res.OutputError, c.meta.Results.OutputRelError[ck.key])
			})
		}
	}
}

// assertPacked compares the kept entries of got (row by row, increasing
// column) with packed values, within 1e-9 of max |value|.
func assertPacked(t *testing.T, got *mat.Dense, mask *methods.Mask, packed *mat.Dense) {
	t.Helper()
	rows, per := packed.Dims()
	scale := 0.0
	for _, v := range packed.RawMatrix().Data {
		scale = math.Max(scale, math.Abs(v))
	}
	worst := 0.0
	for i := 0; i < rows; i++ {
		k := 0
		for j := 0; j < mask.Cols; j++ {
			if !mask.At(i, j) {
				assert.Zero(t, got.At(i, j), "pruned entry (%d, %d) must be exactly 0", i, j)
				continue
			}
			require.Less(t, k, per, "row %d keeps more than %d entries", i, per)
			worst = math.Max(worst, math.Abs(got.At(i, j)-packed.At(i, k)))
			k++
		}
	}
	assert.LessOrEqual(t, worst, tolValues*scale, "max |Δ| = %.3g, max |value| = %.3g", worst, scale)
}

// TestReferenceARMORStep reproduces the fixed-group sparse-core step.
func TestReferenceARMORStep(t *testing.T) {
	for _, c := range loadCases(t) {
		if !c.f.Has("armor_step_A") {
			t.Logf("%s: no armor_step_* tensors (optional); step not checked", c.name)
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			l := c.layer(t)
			b := c.meta.ArmorStep.BlockSize
			norm := methods.Normalize(l.W)
			st, err := methods.NewARMORState(norm, l.Stats.Hdiag, methods.Pattern24, b, 0)
			require.NoError(t, err)
			A, B := blocksFromTensor(t, c, "armor_step_A", b), blocksFromTensor(t, c, "armor_step_B", b)
			mask := &methods.Mask{Rows: st.Mask.Rows, Cols: st.Mask.Cols, Keep: c.mask(t, "nowag_mask")}
			require.NoError(t, st.SetFactors(A, B, norm.Wbar, mask))
			assert.LessOrEqual(t, relErr(st.Loss(), c.meta.ArmorStep.LossBefore), tolLoss, "loss before")
			rows, _, err := c.f.Ints("armor_step_rows")
			require.NoError(t, err)
			cols, _, err := c.f.Ints("armor_step_cols")
			require.NoError(t, err)
			groups := make([]methods.Group, len(rows))
			for p := range rows {
				groups[p] = methods.Group{Row: rows[p], Col: cols[p]}
			}
			require.Len(t, groups, c.meta.ArmorStep.Selected)
			changed, err := st.SparseCoreStep(groups, false)
			require.NoError(t, err)
			assert.Equal(t, c.meta.ArmorStep.Changed, changed, "groups that changed support")
			want := c.mask(t, "armor_step_mask")
			assert.Equal(t, want, st.Mask.Keep, "mask after the step")
			assertPacked(t, st.Core(), st.Mask, c.matrix(t, "armor_step_values"))
			assert.LessOrEqual(t, relErr(st.Loss(), c.meta.ArmorStep.LossAfter), tolLoss, "loss after: %.17g want %.17g", st.Loss(), c.meta.ArmorStep.LossAfter)
		})
	}
}

func blocksFromTensor(t *testing.T, c refCase, name string, b int) *methods.BlockDiag {
	t.Helper()
	v, shape, err := c.f.Float64s(name)
	require.NoError(t, err)
	require.Len(t, shape, 3, name)
	require.Equal(t, []int{b, b}, shape[1:], name)
	bd := methods.NewBlockDiagIdentity(shape[0]*b, b)
	for k := range bd.Blocks {
		copy(bd.Blocks[k], v[k*b*b:(k+1)*b*b])
	}
	return bd
}
