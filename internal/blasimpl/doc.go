// Package blasimpl chooses, at build time, the BLAS implementation behind
// gonum's blas64 and blas32 packages.
//
// By default gonum's pure-Go BLAS is used. Built with `-tags openblas` (the
// Makefile does this when OpenBLAS's headers are installed, e.g. Debian's
// libopenblas-dev), blas64 and blas32 are routed through OpenBLAS by cgo
// (gonum.org/v1/netlib), with OpenBLAS's own threading set to one thread: the
// callers parallelize over blocks themselves, and one-thread calls keep every
// result independent of scheduling.
//
// Import it for its side effect, and call Name to report the backend.
package blasimpl
