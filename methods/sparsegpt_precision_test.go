package methods

import (
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

// u32 is float32's unit roundoff, 2⁻²⁴.
const u32 = 1.0 / (1 << 24)

// Tolerances of SparseGPT in float32 against float64 (and the naive
// algorithm). Measured on these layers and on 54 more (up to 512 × 1024,
// seeds 1–3, 2:4 and 4:8, down to 64 calibration rows for 512 inputs):
// masks equal everywhere; proxy loss and output error within 4e-7 relative
// (a few u32; running float64 on W and H merely rounded to float32 already
// moves the loss by up to 3e-8); updated weights within 7e-7 relative
// (Frobenius) of the naive float64 algorithm's, the largest with fewer
// calibration rows than inputs, where H is singular but for the dampening.
// The tolerances leave a factor 15–25 over the worst measured values and
// stay four orders of magnitude below the differences between methods
// (SparseGPT and NoWag-P differ by 14–43 % in proxy loss on the same
// layers), so float32 cannot reorder methods in a table. A mask may flip
// where two scores of a group are within rounding of each other; such a
// near-tie changes the loss only to second order, and the mask tolerance
// allows one flip in 1000 entries.
const (
	sgpt32LossTol = 1e-5  // relative, proxy loss and output error
	sgpt32WTol    = 1e-5  // relative Frobenius difference of Ŵ, rows with equal masks
	sgpt32MaskTol = 0.999 // fraction of mask entries that must agree
)

// maskAgreement returns the fraction of equal entries of two masks and the
// rows on which the masks agree entirely.
func maskAgreement(a, b *Mask) (float64, []bool) {
	same := 0
	rowOK := make([]bool, a.Rows)
	for i := range rowOK {
		rowOK[i] = true
		for j := 0; j < a.Cols; j++ {
			if a.At(i, j) == b.At(i, j) {
				same++
			} else {
				rowOK[i] = false
			}
		}
	}
	return float64(same) / float64(len(a.Keep)), rowOK
}

// relDiffRows is ‖A − B‖_F / ‖B‖_F over the rows marked in rows, and the
// number of such rows.
func relDiffRows(a, b *mat.Dense, rows []bool) (float64, int) {
	num, den, n := 0.0, 0.0, 0
	for i, ok := range rows {
		if !ok {
			continue
		}
		n++
		for j, v := range b.RawRowView(i) {
			d := a.At(i, j) - v
			num += float64(d * d)
			den += float64(v * v)
		}
	}
	return math.Sqrt(num / den), n
}

// TestSparseGPTFloat32MatchesFloat64 prunes random layers in both precisions
// and with the naive float64 algorithm: float32 chooses (almost) the same
// masks and lands within sgpt32LossTol of float64's proxy loss and output
// error, and within sgpt32WTol of the naive algorithm's weights.
func TestSparseGPTFloat32MatchesFloat64(t *testing.T) {
	cases := []struct {
		rows, cols, n int
		p             Pattern
		dead          bool
	}{
		{64, 128, 256, Pattern24, false},
		{300, 392, 400, Pattern24, true}, // partial blocks and row chunks, a dead input
		{130, 520, 333, Pattern24, false},
		{64, 512, 64, Pattern24, false}, // fewer calibration rows than inputs: H singular but for λ
		{70, 200, 300, Pattern{N: 4, M: 8}, false},
		{50, 132, 200, Pattern{N: 1, M: 4}, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%d_n%d_%s", tc.rows, tc.cols, tc.n, tc.p), func(t *testing.T) {
			l := randomLayer(t, tc.rows, tc.cols, tc.n, uint64(tc.cols))
			l.X = nil // output error from H
			if tc.dead {
				H := mat.NewSymDense(tc.cols, nil)
				H.CopySym(l.Stats.H)
				for k := 0; k < tc.cols; k++ {
					H.SetSym(5, k, 0)
				}
				l.Stats.H = H
			}
			res := map[Precision]*Result{}
			for _, prec := range []Precision{Float64, Float32} {
				cfg := DefaultSparseGPTConfig()
				cfg.Precision = prec
				r, err := (&SparseGPT{Pattern: tc.p, Config: cfg}).Prune(l)
				require.NoError(t, err)
				require.NoError(t, r.Mask.Satisfies(tc.p))
				res[prec] = r
			}
			f64, f32 := res[Float64], res[Float32]
			// Pruned entries are exactly zero in float32 too.
			for k, keep := range f32.Mask.Keep {
				if !keep {
					require.Zero(t, f32.What.RawMatrix().Data[k], "pruned entry %d", k)
				}
			}
			agree, _ := maskAgreement(f32.Mask, f64.Mask)
			assert.GreaterOrEqual(t, agree, sgpt32MaskTol, "mask agreement with float64")
			assert.InDelta(t, f64.ProxyLoss, f32.ProxyLoss, sgpt32LossTol*f64.ProxyLoss, "proxy loss")
			assert.InDelta(t, f64.OutputError, f32.OutputError, sgpt32LossTol*f64.OutputError, "output error")
			t.Logf("mask agreement %.5f, proxy loss %+.2e, output error %+.2e relative",
				agree, (f32.ProxyLoss-f64.ProxyLoss)/f64.ProxyLoss, (f32.OutputError-f64.OutputError)/f64.OutputError)

			want, keep := naiveSparseGPT(t, l, tc.p, DefaultSparseGPTConfig().Damp)
			naiveMask := &Mask{Rows: tc.rows, Cols: tc.cols, Keep: keep}
			agree, rows := maskAgreement(f32.Mask, naiveMask)
			assert.GreaterOrEqual(t, agree, sgpt32MaskTol, "mask agreement with the naive algorithm")
			d, n := relDiffRows(f32.What, want, rows)
			assert.GreaterOrEqual(t, n, tc.rows*99/100, "rows with the naive algorithm's mask")
			assert.LessOrEqual(t, d, sgpt32WTol, "Ŵ against the naive algorithm on %d rows", n)
			t.Logf("against naive: mask agreement %.5f, Ŵ %.2e relative", agree, d)
		})
	}
}

// TestSparseGPTFloat32DeterministicAcrossThreads checks that the float32
// path, H built with float32 Gram products included, is bitwise identical
// whatever the number of cores.
func TestSparseGPTFloat32DeterministicAcrossThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	base := randomLayer(t, 300, 520, 333, 4)
	var refH, refW []float64
	var refKeep []bool
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		st, err := StatsFromActivationsGram(base.X, true, Float32)
		require.NoError(t, err)
		cfg := DefaultSparseGPTConfig()
		cfg.Precision = Float32
		What, mask, err := (&SparseGPT{Pattern: Pattern24, Config: cfg}).prune(&Layer{W: base.W, Stats: st})
		require.NoError(t, err)
		H, W := st.H.RawSymmetric().Data, What.RawMatrix().Data
		if refH == nil {
			refH, refW, refKeep = H, W, mask.Keep
			continue
		}
		for k := range H {
			require.Equal(t, math.Float64bits(refH[k]), math.Float64bits(H[k]), "GOMAXPROCS=%d: H[%d]", procs, k)
		}
		for k := range W {
			require.Equal(t, math.Float64bits(refW[k]), math.Float64bits(W[k]), "GOMAXPROCS=%d: Ŵ[%d]", procs, k)
		}
		require.Equal(t, refKeep, mask.Keep, "GOMAXPROCS=%d: mask", procs)
	}
}

// TestSparseGPTPrecisionValidation: only float64, float32 and the empty
// default are accepted, and the error names the bad value.
func TestSparseGPTPrecisionValidation(t *testing.T) {
	l := randomLayer(t, 16, 32, 64, 1)
	for _, tc := range []struct {
		prec Precision
		ok   bool
	}{{"", true}, {Float64, true}, {Float32, true}, {"float16", false}, {"Float32", false}} {
		cfg := DefaultSparseGPTConfig()
		cfg.Precision = tc.prec
		_, err := (&SparseGPT{Pattern: Pattern24, Config: cfg}).Prune(l)
		if tc.ok {
			assert.NoError(t, err, "%q", tc.prec)
			assert.NoError(t, cfg.Validate(Pattern24), "%q", tc.prec)
			continue
		}
		require.Error(t, err, "%q", tc.prec)
		assert.Contains(t, err.Error(), fmt.Sprintf("sparsegpt precision %q", tc.prec))
		assert.Equal(t, err, cfg.Validate(Pattern24))
	}
}

// TestGramFloat32 checks H built with float32 Gram products against the
// float64 one. Rounding each activation to float32 and summing n products
// in float32 changes each Gram entry by at most (n+2)·u·Σ_t |x_ti·x_tj|
// (the standard dot-product error bound, for any summation order, plus one
// rounding of each factor), and Σ_t |x_ti·x_tj| ≤ ‖x_i‖·‖x_j‖ (Cauchy–
// Schwarz); with H = (2/n)·XᵀX, |ΔH_ij| ≤ (n+2)·u·√(H_ii·H_jj). Hdiag and
// WandaNorm are summed in float64 either way and must not change at all.
func TestGramFloat32(t *testing.T) {
	for _, sh := range [][2]int{{333, 520}, {64, 512}, {1000, 96}} {
		t.Run(fmt.Sprintf("n%d_d%d", sh[0], sh[1]), func(t *testing.T) {
			l := randomLayer(t, 8, sh[1], sh[0], 3)
			s64, err := StatsFromActivations(l.X, true)
			require.NoError(t, err)
			s32, err := StatsFromActivationsGram(l.X, true, Float32)
			require.NoError(t, err)
			assert.Equal(t, s64.Hdiag, s32.Hdiag)
			assert.Equal(t, s64.WandaNorm, s32.WandaNorm)
			n, d := sh[0], sh[1]
			worst := 0.0
			for i := 0; i < d; i++ {
				for j := i; j < d; j++ {
					bound := float64(n+2) * u32 * math.Sqrt(s64.H.At(i, i)*s64.H.At(j, j))
					dev := math.Abs(s32.H.At(i, j) - s64.H.At(i, j))
					require.LessOrEqual(t, dev, bound, "H[%d,%d]", i, j)
					worst = max(worst, dev/bound)
				}
			}
			t.Logf("largest |ΔH_ij| is %.3f of the bound", worst)
		})
	}
}

// TestGramFloat32Streaming: float32 batches (AddFloat32) and the same
// values as float64 batches (Add) give the same statistics bit for bit, and
// a bad precision is refused.
func TestGramFloat32Streaming(t *testing.T) {
	l := randomLayer(t, 8, 200, 300, 5)
	X := l.X.(*mat.Dense)
	r, c := X.Dims()
	x32 := make([]float32, r*c)
	for k, v := range X.RawMatrix().Data {
		x32[k] = float32(v)
	}
	x64 := mat.NewDense(r, c, nil)
	for k, v := range x32 {
		x64.RawMatrix().Data[k] = float64(v)
	}
	a, b := NewAccumulator(c, true), NewAccumulator(c, true)
	require.NoError(t, a.SetGramPrecision(Float32))
	require.NoError(t, b.SetGramPrecision(Float32))
	for _, cut := range [][2]int{{0, 100}, {100, 101}, {101, 300}} {
		require.NoError(t, a.AddFloat32(x32[cut[0]*c:cut[1]*c], cut[1]-cut[0]))
		require.NoError(t, b.Add(x64.Slice(cut[0], cut[1], 0, c)))
	}
	sa, err := a.Stats()
	require.NoError(t, err)
	sb, err := b.Stats()
	require.NoError(t, err)
	assert.Equal(t, sa.Hdiag, sb.Hdiag)
	assert.Equal(t, sa.H.RawSymmetric().Data, sb.H.RawSymmetric().Data)

	err = NewAccumulator(c, true).SetGramPrecision("half")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"half"`)
	_, err = StatsFromActivationsGram(X, true, "half")
	assert.Error(t, err)
}
