// Package halffloat widens the 16-bit floating-point formats of model
// checkpoints (bfloat16 and IEEE binary16) to float32, for the packages
// that store weights in them (datasets reads them, model computes with them).
package halffloat

import (
	"encoding/binary"
	"math"
)

// BF16ToFloat32 widens a bfloat16 value, the upper 16 bits of an IEEE-754
// binary32, to float32. The conversion is exact.
func BF16ToFloat32(u uint16) float32 {
	return math.Float32frombits(uint32(u) << 16)
}

// F16ToFloat32 widens an IEEE-754 binary16 (half precision) value to float32.
// The conversion is exact for every input: subnormals become normal float32
// values, infinities stay infinite and NaNs stay NaN with their payload.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch exp {
	case 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case 0: // zero or subnormal: frac · 2⁻²⁴, exact in float32
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	default: // rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	}
}

// Kind names a 16-bit float format.
type Kind uint8

// The 16-bit formats.
const (
	BF16 Kind = iota + 1 // bfloat16
	F16                  // IEEE-754 binary16
)

// String returns the safetensors dtype name of k.
func (k Kind) String() string {
	switch k {
	case BF16:
		return "BF16"
	case F16:
		return "F16"
	}
	return "invalid"
}

// Widen decodes the little-endian 16-bit values of src (2·len(dst) bytes)
// of format k into dst.
func Widen(k Kind, dst []float32, src []byte) {
	le := binary.LittleEndian
	if k == BF16 {
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(src[2*i:])) << 16)
		}
		return
	}
	for i := range dst {
		dst[i] = F16ToFloat32(le.Uint16(src[2*i:]))
	}
}
