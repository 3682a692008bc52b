package datasets

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// f16Reference decodes binary16 bits from the textbook definition, independently
// of F16ToFloat32: (−1)^s · 2^(e−15) · 1.f for normals, 2^−14 · 0.f for subnormals.
func f16Reference(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	case 0:
		return sign * math.Ldexp(frac, -24)
	default:
		return sign * math.Ldexp(1024+frac, exp-25)
	}
}

func TestF16ToFloat32KnownValues(t *testing.T) {
	tests := []struct {
		bits uint16
		want float64
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0xc000, -2},
		{0x3e00, 1.5},
		{0x3555, 0.333251953125},         // nearest half to 1/3
		{0x2e66, 0.0999755859375},        // nearest half to 0.1
		{0x4248, 3.140625},               // nearest half to π
		{0x3bff, 1 - math.Ldexp(1, -11)}, // largest below 1
		{0x3c01, 1 + math.Ldexp(1, -10)}, // smallest above 1
		{0x7bff, 65504},                  // largest finite
		{0xfbff, -65504},                 // most negative finite
		{0x0400, math.Ldexp(1, -14)},     // smallest normal
		{0x03ff, math.Ldexp(1023, -24)},  // largest subnormal
		{0x0001, math.Ldexp(1, -24)},     // smallest subnormal
		{0x8001, -math.Ldexp(1, -24)},    // negative subnormal
		{0x7c00, math.Inf(1)},
		{0xfc00, math.Inf(-1)},
	}
	for _, tc := range tests {
		got := float64(F16ToFloat32(tc.bits))
		assert.Equal(t, tc.want, got, "bits %#04x", tc.bits)
		assert.Equal(t, tc.bits, Float64ToF16(tc.want), "value %g", tc.want)
	}
	negZero := F16ToFloat32(0x8000)
	assert.True(t, negZero == 0 && math.Signbit(float64(negZero)), "0x8000 must be −0")
	for _, h := range []uint16{0x7e00, 0x7c01, 0xfe00, 0x7fff} {
		assert.True(t, math.IsNaN(float64(F16ToFloat32(h))), "bits %#04x must be NaN", h)
	}
}

// TestF16Exhaustive checks every one of the 65536 half values against the
// textbook decoding, and that narrowing the widened value gives the bits back.
func TestF16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got := float64(F16ToFloat32(h))
		want := f16Reference(h)
		if math.IsNaN(want) {
			require.True(t, math.IsNaN(got), "bits %#04x: want NaN, got %g", h, got)
			require.True(t, math.IsNaN(float64(F16ToFloat32(Float64ToF16(got)))), "NaN %#04x must stay NaN", h)
			continue
		}
		require.Equal(t, want, got, "bits %#04x", h)
		require.Equal(t, math.Signbit(want), math.Signbit(got), "sign of bits %#04x", h)
		require.Equal(t, h, Float64ToF16(got), "round trip of bits %#04x (%g)", h, got)
	}
}

// TestBF16Exhaustive checks all 65536 bfloat16 values: widening is the upper
// half of a float32, and narrowing the widened value gives the bits back.
func TestBF16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		u := uint16(i)
		got := BF16ToFloat32(u)
		require.Equal(t, uint32(u)<<16, math.Float32bits(got), "bits %#04x", u)
		if math.IsNaN(float64(got)) {
			require.True(t, math.IsNaN(float64(BF16ToFloat32(Float64ToBF16(float64(got))))), "NaN %#04x must stay NaN", u)
			continue
		}
		require.Equal(t, u, Float64ToBF16(float64(got)), "round trip of bits %#04x (%g)", u, got)
	}
}

// checkRoundToNearestEven walks every pair of adjacent positive finite values
// lo < hi of a 16-bit format and checks that narrow sends their exact midpoint
// to the one with the even bit pattern, and values just inside it to the
// nearer one.
func checkRoundToNearestEven(t *testing.T, widen func(uint16) float64, narrow func(float64) uint16, maxFinite uint16) {
	t.Helper()
	for u := uint16(0); u < maxFinite; u++ {
		lo, hi := widen(u), widen(u+1)
		mid := lo + (hi-lo)/2 // exact in float64: both have few significant bits
		even := u
		if u&1 == 1 {
			even = u + 1
		}
		require.Equal(t, even, narrow(mid), "midpoint %g of %#04x and %#04x", mid, u, u+1)
		require.Equal(t, u, narrow(math.Nextafter(mid, lo)), "just below midpoint %g", mid)
		require.Equal(t, u+1, narrow(math.Nextafter(mid, hi)), "just above midpoint %g", mid)
		require.Equal(t, u|0x8000, narrow(-math.Nextafter(mid, lo)), "negative of just below midpoint %g", mid)
	}
}

func TestFloat64ToF16RoundsToNearestEven(t *testing.T) {
	widen := func(h uint16) float64 { return float64(F16ToFloat32(h)) }
	checkRoundToNearestEven(t, widen, Float64ToF16, 0x7bff)

	tests := []struct {
		name string
		in   float64
		want uint16
	}{
		{"65519 rounds down to max", 65519.99, 0x7bff},
		{"65520 is the midpoint to Inf: ties to even = Inf", 65520, 0x7c00},
		{"far beyond range", 1e300, 0x7c00},
		{"negative beyond range", -1e6, 0xfc00},
		{"half the smallest subnormal ties to zero", math.Ldexp(1, -25), 0x0000},
		{"just above half the smallest subnormal", math.Nextafter(math.Ldexp(1, -25), 1), 0x0001},
		{"quarter of the smallest subnormal", math.Ldexp(1, -26), 0x0000},
		{"1.5 × smallest subnormal ties to even 2", math.Ldexp(3, -25), 0x0002},
		{"largest subnormal rounds up to smallest normal", math.Ldexp(1023.5, -24), 0x0400},
		{"float64 subnormal", math.SmallestNonzeroFloat64, 0x0000},
		{"negative float64 subnormal keeps sign", -math.SmallestNonzeroFloat64, 0x8000},
		{"negative zero", math.Copysign(0, -1), 0x8000},
		{"+Inf", math.Inf(1), 0x7c00},
		{"−Inf", math.Inf(-1), 0xfc00},
		{"0.1", 0.1, 0x2e66},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Float64ToF16(tc.in))
		})
	}
	nan := Float64ToF16(math.NaN())
	assert.True(t, math.IsNaN(float64(F16ToFloat32(nan))), "NaN → %#04x is not NaN", nan)
	assert.Equal(t, uint16(0x0200), nan&0x0200, "NaN must be quiet")
}

func TestFloat64ToBF16RoundsToNearestEven(t *testing.T) {
	widen := func(u uint16) float64 { return float64(BF16ToFloat32(u)) }
	checkRoundToNearestEven(t, widen, Float64ToBF16, 0x7f7f)

	// Against the usual float32 bit trick for every float32 input, sampled.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		b := rng.Uint32()
		f := math.Float32frombits(b)
		if math.IsNaN(float64(f)) {
			continue
		}
		want := uint16((b + 0x7fff + (b>>16)&1) >> 16)
		require.Equal(t, want, Float64ToBF16(float64(f)), "float32 bits %#08x", b)
	}

	tests := []struct {
		name string
		in   float64
		want uint16
	}{
		// 1 + 2⁻⁸ + 2⁻³⁰ is just above the midpoint of 1 and 1 + 2⁻⁷; rounding
		// through float32 first would drop the 2⁻³⁰ and then tie down to 1.
		{"no double rounding", 1 + math.Ldexp(1, -8) + math.Ldexp(1, -30), 0x3f81},
		{"0.1", 0.1, 0x3dcd},
		{"max finite", 3.3895313892515355e38, 0x7f7f},
		{"overflow to Inf", 3.4e38, 0x7f80},
		{"smallest subnormal", math.Ldexp(1, -133), 0x0001},
		{"half the smallest subnormal ties to zero", math.Ldexp(1, -134), 0x0000},
		{"negative zero", math.Copysign(0, -1), 0x8000},
		{"−Inf", math.Inf(-1), 0xff80},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Float64ToBF16(tc.in))
		})
	}
	nan := Float64ToBF16(math.NaN())
	assert.True(t, math.IsNaN(float64(BF16ToFloat32(nan))), "NaN → %#04x is not NaN", nan)
}
