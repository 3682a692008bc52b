package synthetic

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

func TestGenerate(t *testing.T) {
	s := Spec{Name: "q", DOut: 64, DIn: 128, Samples: 256, Seed: 3, Scale: 0.02, Outliers: 3, OutlierMin: 10, OutlierMax: 50}
	a, err := Generate(s)
	require.NoError(t, err)
	b, err := Generate(s)
	require.NoError(t, err)
	assert.True(t, mat.Equal(a.W, b.W), "same spec, same W")
	assert.True(t, mat.Equal(a.X, b.X), "same spec, same X")
	assert.Len(t, a.Outliers, 3)

	// Heavy tails: the excess kurtosis of t(4) is infinite in theory, and
	// clearly positive in a sample; the scale is about 0.02·sqrt(2).
	w := a.W.RawMatrix().Data
	assert.Greater(t, stat.ExKurtosis(w, nil), 1.0)
	assert.InDelta(t, 0.028, stat.StdDev(w, nil), 0.006)

	// Outlier channels carry much more energy than the median channel.
	col := func(j int) float64 { return mat.Norm(a.X.ColView(j), 2) }
	for _, j := range a.Outliers {
		assert.Greater(t, col(j), 5*col((j+1)%128), "outlier channel %d", j)
	}

	s.Name = "k"
	c, err := Generate(s)
	require.NoError(t, err)
	assert.False(t, mat.Equal(a.W, c.W), "another name, another layer")
}

func TestValidate(t *testing.T) {
	for _, s := range []Spec{
		{Name: "a", DOut: 0, DIn: 4, Samples: 1, Scale: 1},
		{Name: "a", DOut: 4, DIn: 4, Samples: 0, Scale: 1},
		{Name: "a", DOut: 4, DIn: 4, Samples: 1, Scale: 0},
		{Name: "a", DOut: 4, DIn: 4, Samples: 1, Scale: 1, Outliers: 5},
		{Name: "a", DOut: 4, DIn: 4, Samples: 1, Scale: 1, Outliers: 1},
	} {
		_, err := Generate(s)
		assert.Error(t, err, "%+v", s)
	}
}
