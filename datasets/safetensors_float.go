package datasets

import (
	"math"

	"github.com/prunebench/armor/internal/halffloat"
)

// BF16ToFloat32 widens a bfloat16 value, the upper 16 bits of an IEEE-754
// binary32, to float32. The conversion is exact.
func BF16ToFloat32(u uint16) float32 { return halffloat.BF16ToFloat32(u) }

// F16ToFloat32 widens an IEEE-754 binary16 (half precision) value to float32.
// The conversion is exact for every input: subnormals become normal float32
// values, infinities stay infinite and NaNs stay NaN with their payload.
func F16ToFloat32(h uint16) float32 { return halffloat.F16ToFloat32(h) }

// Float64ToF16 rounds f to the nearest IEEE-754 binary16 value, ties to even,
// and returns its bits. Values beyond the largest finite half (65504) round to
// ±infinity exactly when IEEE rounding says so (|f| ≥ 65520); tiny values
// round to subnormals or signed zero. NaN maps to a quiet NaN.
func Float64ToF16(f float64) uint16 {
	return narrowFloat(f, 5, 10)
}

// Float64ToBF16 rounds f to the nearest bfloat16 value, ties to even, and
// returns its bits. Rounding happens once, directly from float64 (not via
// float32, which could round twice). NaN maps to a quiet NaN.
func Float64ToBF16(f float64) uint16 {
	return narrowFloat(f, 8, 7)
}

// narrowFloat rounds f to the nearest value of a binary floating-point format
// with one sign bit, expBits exponent bits and mantBits fraction bits (at most
// 16 bits in total), ties to even, and returns that value's bits.
func narrowFloat(f float64, expBits, mantBits uint) uint16 {
	const fracBits64 = 52
	b := math.Float64bits(f)
	sign := uint16(b>>63) << (expBits + mantBits)
	exp64 := int(b>>fracBits64) & 0x7ff
	mant := b & (1<<fracBits64 - 1)
	expAllOnes := uint64(1)<<expBits - 1
	inf := expAllOnes << mantBits
	bias := int(expAllOnes >> 1)

	if exp64 == 0x7ff {
		if mant == 0 {
			return sign | uint16(inf)
		}
		// Keep the top payload bits and set the quiet bit so the result is a NaN.
		return sign | uint16(inf|mant>>(fracBits64-mantBits)|1<<(mantBits-1))
	}
	if exp64 == 0 {
		// Zero or a float64 subnormal: far below half the smallest subnormal
		// of any 16-bit format, so it rounds to signed zero.
		return sign
	}
	e := exp64 - 1023
	if e > bias {
		return sign | uint16(inf)
	}
	var q, rem uint64
	var shift uint
	if e >= 1-bias {
		// Normal result: keep the top mantBits of the fraction.
		shift = fracBits64 - mantBits
		q = uint64(e+bias)<<mantBits | mant>>shift
		rem = mant & (1<<shift - 1)
	} else {
		// Subnormal result: q = significand · 2^(e − 52 + bias − 1 + mantBits).
		sig := mant | 1<<fracBits64
		s := fracBits64 - (bias - 1) - int(mantBits) - e
		if s > fracBits64+1 {
			return sign // below half the smallest subnormal
		}
		shift = uint(s)
		q = sig >> shift
		rem = sig & (1<<shift - 1)
	}
	half := uint64(1) << (shift - 1)
	if rem > half || (rem == half && q&1 == 1) {
		// A carry out of the fraction bumps the exponent; from the largest
		// finite value it lands exactly on infinity (e ≤ bias above).
		q++
	}
	return sign | uint16(q)
}
