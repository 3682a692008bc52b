// Package kernel holds the numerical kernels shared by the pruning methods
// (methods) and the inference code (infer): AVX2/FMA assembly with the Go
// loops it stands for, BLAS wrappers over gonum's blas32/blas64 (OpenBLAS
// with -tags openblas), and the parallel loops. It has no state besides
// buffer pools and does no I/O.
//
// Files:
//
//	float.go          Float (float32 | float64) and Mat, a row-major view
//	parallel.go       For, ForWorker, Workers: deterministic parallel loops
//	blas.go           Gemm, Trsm, Trmm, Syrk (blas32/blas64 by type) and MulAdd,
//	                  c = ±f + op(a)·op(b) on the FMA strip kernels when it can
//	loops.go          the Go loops of the vector kernels and of Adam
//	vec_*.go, vec_amd64.s    GroupL1, AccumRows, Axpy3, Rank4, KeepCopy
//	adam_*.go, adam_amd64.s  Adam, AdamKeep
//	gemm_*.go, gemm_amd64.s  gemmFMA, MulAdd's assembly path
//	asm_gen.go        writes the three .s files from templates (go generate)
//
// Every vector kernel is one call whatever the build: its doc comment
// states its loop, the no-assembly build (purego, or not amd64; the
// *_noasm.go files) runs exactly that loop (loops.go), and the amd64 build
// runs the assembly on the longest prefix it handles and the same loop on
// the rest, with bitwise the same results (checked by the tests against
// loops written out independently). The products in the loops are rounded
// by explicit conversions, so the compiler cannot fuse them into
// multiply-adds at GOAMD64=v3 and the loops agree with the assembly, which
// multiplies and adds separately, at any GOAMD64 level. Whether assembly
// runs depends on haveAVX2 (vector kernels and Adam) and haveGemmFMA (the
// strip kernels), fixed per process.
package kernel
