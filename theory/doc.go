// Package theory checks, with property-based tests (pgregory.net/rapid), the
// guarantees the mathematics of the pruning methods promises: ARMOR's
// Theorem 3.1 (the block coordinate descent never increases the proxy loss,
// converges, and ends no worse than NoWag-P), the optimality of ARMOR's
// sparse-core step and of NoWag-P's mask, that every method follows its N:M
// pattern, that ARMOR's folded factors reproduce its weight, and the
// invariances of the masks and the proxy loss.
//
// Everything lives in the package's tests; run them with `make theory`
// (1000 cases per property and a summary table) or `go test ./theory/`
// (a smaller count). docs/theory.md ("How to run and replay") says how to replay a failure.
package theory
