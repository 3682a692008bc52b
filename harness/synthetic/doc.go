// Package synthetic generates linear layers that look like those of a
// trained LLM, for offline studies: heavy-tailed weights and calibration
// activations with a few outlier input channels, as described for the
// reference fixtures (../shared/fixtures/reference/README.md):
//
//	W_ij = Scale · T_ij,             T ~ Student-t with 4 degrees of freedom
//	X_tj = Z_tj · s_j,               Z ~ N(0, 1), s_j = exp(0.3·N(0, 1))
//	s_j ← s_j · U(OutlierMin, OutlierMax) for Outliers channels j
//
// The stream is math/rand/v2's PCG seeded from (Seed, a hash of the layer
// name), so a layer does not change when others are added to a config and
// the numbers are identical on every platform.
package synthetic
