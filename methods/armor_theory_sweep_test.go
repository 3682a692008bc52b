package methods

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSweepCoreMatchesSparseCoreStep checks the lazy-gradient sweep against
// the sparse-core step with explicit rank-one residual updates: given the
// same groups in the same order (row by row within a tile), both solve the
// same sequence of exact group subproblems, so they must end at the same
// mask, values and loss up to rounding.
func TestSweepCoreMatchesSparseCoreStep(t *testing.T) {
	cases := []struct {
		name         string
		dOut, dIn, b int
		p            Pattern
		perTile      int // groups per tile; 0 = all
	}{
		{"2:4 all", 32, 64, 16, Pattern24, 0},
		{"2:4 sampled", 32, 64, 16, Pattern24, 5},
		{"ragged 40x72 b16", 40, 72, 16, Pattern24, 0},
		{"1:4 all", 24, 48, 8, Pattern{1, 4}, 0},
		{"4:8 some", 32, 64, 16, Pattern{4, 8}, 7},
		{"3:8 one", 16, 64, 16, Pattern{3, 8}, 1},
	}
	for k, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := randomLayer(t, tc.dOut, tc.dIn, 96, uint64(k)+300)
			norm := Normalize(l.W)
			st, err := NewARMORState(norm, l.Stats.Hdiag, tc.p, tc.b, 2)
			require.NoError(t, err)
			perturb(st, uint64(k))
			st.Refresh()
			ref := st.Clone()

			// Groups: per tile, perTile distinct ones in random order, then
			// sorted by row (stable), the order SweepCore uses.
			rng := rand.New(rand.NewPCG(uint64(k), 9))
			var groups []Group
			nr, nc := st.TileCount()
			for i := range nr {
				for j := range nc {
					var tile []Group
					for r := st.A.Starts[i]; r < st.A.Starts[i]+st.A.Sizes[i]; r++ {
						for c := st.B.Starts[j]; c < st.B.Starts[j]+st.B.Sizes[j]; c += tc.p.M {
							tile = append(tile, Group{Row: r, Col: c})
						}
					}
					if tc.perTile > 0 {
						rng.Shuffle(len(tile), func(x, y int) { tile[x], tile[y] = tile[y], tile[x] })
						tile = tile[:min(tc.perTile, len(tile))]
						slices.SortStableFunc(tile, func(x, y Group) int { return cmp.Compare(x.Row, y.Row) })
					}
					groups = append(groups, tile...)
				}
			}
			before := st.Loss()
			_, err = ref.SparseCoreStep(groups, true)
			require.NoError(t, err)
			ref.Refresh()

			st.refreshGrad()
			sweep := groups
			if tc.perTile == 0 {
				sweep = nil // every group, row by row: the same order
			}
			_, err = st.SweepCore(sweep)
			require.NoError(t, err)
			st.Refresh()

			assert.Equal(t, ref.Mask.Keep, st.Mask.Keep, "same supports")
			assert.Less(t, relDiff(st.S, ref.S), 1e-9, "same values")
			assert.InDelta(t, ref.Loss(), st.Loss(), 1e-10*before)
			assert.Less(t, st.Loss(), before, "the sweep lowers the loss")
		})
	}
}

// TestSweepCoreGradientAndErrors checks that a sweep after Refresh (stale
// ∂L/∂S) recomputes the gradient and equals one on a fresh gradient, and
// that misplaced groups are errors.
func TestSweepCoreGradientAndErrors(t *testing.T) {
	l := randomLayer(t, 16, 32, 32, 1)
	st, err := NewARMORState(Normalize(l.W), l.Stats.Hdiag, Pattern24, 8, 1)
	require.NoError(t, err)
	perturb(st, 1)
	st.Refresh()
	fresh := st.Clone()
	fresh.refreshGrad()
	_, err = st.SweepCore(nil)
	require.NoError(t, err)
	_, err = fresh.SweepCore(nil)
	require.NoError(t, err)
	assert.Equal(t, fresh.S.RawMatrix().Data, st.S.RawMatrix().Data)
	for _, g := range []Group{{0, 2}, {-1, 0}, {16, 0}, {0, 32}} {
		_, err = st.SweepCore([]Group{g})
		assert.Error(t, err, "%+v", g)
	}
}

// TestSolveGroup24SupportOrder pins the support order solveGroup24 assumes.
func TestSolveGroup24SupportOrder(t *testing.T) {
	assert.Equal(t, [][]int{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}}, Pattern24.Supports())
}
