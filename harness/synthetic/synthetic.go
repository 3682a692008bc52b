package synthetic

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Version names the generator; it is part of every synthetic layer's
// identity, so changing the draws must change it.
const Version = "synthetic/v1"

// Spec describes one synthetic layer.
type Spec struct {
	Name       string
	DOut, DIn  int
	Samples    int     // calibration rows n
	Seed       uint64  // base seed
	Scale      float64 // W scale (0.02)
	Outliers   int     // outlier input channels
	OutlierMin float64 // outlier factor range, e.g. 10 … 50
	OutlierMax float64
}

// Validate reports the first impossible field.
func (s Spec) Validate() error {
	switch {
	case s.DOut <= 0 || s.DIn <= 0:
		return fmt.Errorf("synthetic layer %q: shape %d×%d must be positive", s.Name, s.DOut, s.DIn)
	case s.Samples <= 0:
		return fmt.Errorf("synthetic layer %q: %d samples must be positive", s.Name, s.Samples)
	case !(s.Scale > 0):
		return fmt.Errorf("synthetic layer %q: scale %g must be positive", s.Name, s.Scale)
	case s.Outliers < 0 || s.Outliers > s.DIn:
		return fmt.Errorf("synthetic layer %q: %d outlier channels, want 0…%d", s.Name, s.Outliers, s.DIn)
	case s.Outliers > 0 && !(s.OutlierMin > 0 && s.OutlierMax >= s.OutlierMin):
		return fmt.Errorf("synthetic layer %q: outlier range [%g, %g] must be positive and ordered", s.Name, s.OutlierMin, s.OutlierMax)
	}
	return nil
}

// Layer is a generated weight and its calibration activations, with the
// outlier channels that were chosen.
type Layer struct {
	W, X     *mat.Dense
	Outliers []int
}

// Generate draws the layer of s: W, then the base activations, then the
// channel scales, then the outlier channels and their factors.
func Generate(s Spec) (*Layer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	rng := rand.New(rand.NewPCG(s.Seed, h.Sum64()))
	W := mat.NewDense(s.DOut, s.DIn, nil)
	wd := W.RawMatrix().Data
	for i := range wd {
		wd[i] = s.Scale * studentT4(rng)
	}
	X := mat.NewDense(s.Samples, s.DIn, nil)
	xd := X.RawMatrix().Data
	for i := range xd {
		xd[i] = rng.NormFloat64()
	}
	scale := make([]float64, s.DIn)
	for j := range scale {
		scale[j] = math.Exp(0.3 * rng.NormFloat64())
	}
	perm := rng.Perm(s.DIn)
	out := append([]int(nil), perm[:s.Outliers]...)
	for _, j := range out {
		scale[j] *= s.OutlierMin + (s.OutlierMax-s.OutlierMin)*rng.Float64()
	}
	for t := 0; t < s.Samples; t++ {
		row := xd[t*s.DIn : (t+1)*s.DIn]
		for j := range row {
			row[j] *= scale[j]
		}
	}
	return &Layer{W: W, X: X, Outliers: out}, nil
}

// studentT4 draws from Student's t with 4 degrees of freedom: Z/sqrt(V/4)
// with V a sum of four squared standard normals.
func studentT4(rng *rand.Rand) float64 {
	z := rng.NormFloat64()
	v := 0.0
	for k := 0; k < 4; k++ {
		g := rng.NormFloat64()
		v += g * g
	}
	return z / math.Sqrt(v/4)
}
