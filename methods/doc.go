// Package methods prunes one linear layer to an N:M semi-structured pattern.
//
// A layer computes y = W x with W of shape d_out × d_in. Every method takes W
// and calibration statistics gathered from the activations x that reach the
// layer (see Stats), and returns an effective weight Ŵ whose rows are N:M
// sparse along the input dimension — except ARMOR, whose sparse core is N:M
// and whose effective weight is A·core·B with block-diagonal A and B.
//
// The definitions follow ../shared/docs/ALGORITHMS.md to the letter:
// Magnitude, Wanda, SparseGPT, NoWag-P and ARMOR, plus the two measures every
// method is compared by: the proxy (NoWag) loss and the relative output
// error. Methods are pure functions over matrices: this package does no I/O
// and keeps no global state besides the registry of method names.
//
// Precision: statistics, losses and every method run in float64 by default.
// ARMOR's Adam variant and SparseGPT can keep their working sets in float32
// instead (ARMORConfig.Precision, SparseGPTConfig.Precision); their results
// are still evaluated in float64. The calibration activations may arrive as
// float32 (a model's forward pass); they are widened before they are squared
// and summed.
package methods

import _ "github.com/prunebench/armor/internal/blasimpl" // BLAS backend chosen at build time
