package jsonfloat

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		json string
	}{{1.5, "1.5"}, {math.NaN(), "null"}, {math.Inf(1), "null"}, {-2e-300, "-2e-300"}} {
		b, err := json.Marshal(Float(tc.in))
		require.NoError(t, err)
		assert.Equal(t, tc.json, string(b))
		var back Float
		require.NoError(t, json.Unmarshal(b, &back))
		if math.IsNaN(tc.in) || math.IsInf(tc.in, 0) {
			assert.True(t, math.IsNaN(float64(back)))
		} else {
			assert.Equal(t, tc.in, float64(back))
		}
	}
}
