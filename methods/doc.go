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
//
// # Layers and files
//
// Files form layers, and every reference between files points down or
// stays in its layer (TestFileLayering checks it):
//
//	internal/kernel   assembly, its Go loops, BLAS wrappers, parallel loops
//	primitives        layer.go (Layer, Result, finish), pattern.go (N:M masks),
//	                  blockdiag.go (block-diagonal factors, block layouts),
//	                  precision.go (storage types, conversions), stats.go
//	                  (calibration statistics), loss.go (normalization, proxy
//	                  loss, output error)
//	methods           magnitude.go, wanda.go, nowag.go (with maskonly.go, their
//	                  shared mask-and-score pass), sparsegpt.go, armor*.go
//	registry          registry.go (Method, Config, New, Names)
//
// ARMOR, in reading order:
//
//	armor.go             config, Prune, the descent loop and early stopping
//	armor_state.go       ARMORState: A·(V⊙M)·B in normalized space (exported view)
//	armor_tiles.go       the tile set the kernels run on: forward pass,
//	                     residual, loss, gradients by tile products
//	armor_adam.go        the Adam step and one Adam-variant iteration
//	armor_select.go      group selection (gradient, greedy, random)
//	armor_sparsecore.go  the sparse-core step: each selected group's exact
//	                     support-and-value update (bestSupport), with rank-one
//	                     updates of E, S·B and the gradients
//	armor_theory.go      the theory variants' continuous steps (gd, exact)
//	armor_theory_sweep.go  their sparse-core sweep in the core's coordinates
//
// armor_reference_test.go holds a dense reference ARMOR (full matrices,
// plain loops) that the implementation is checked against.
package methods

import _ "github.com/prunebench/armor/internal/blasimpl" // BLAS backend chosen at build time
