//go:build openblas && cgo

package blasimpl

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int num_threads);
*/
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

func init() {
	C.openblas_set_num_threads(1)
	blas64.Use(netlib.Implementation{})
	blas32.Use(netlib.Implementation{})
}

// Name reports the BLAS backend in use.
func Name() string { return "OpenBLAS (cgo, 1 thread per call)" }
