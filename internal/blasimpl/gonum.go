//go:build !openblas || !cgo

package blasimpl

// Name reports the BLAS backend in use.
func Name() string { return "gonum (pure Go)" }
