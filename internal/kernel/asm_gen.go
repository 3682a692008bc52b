//go:build ignore

// asm_gen writes the assembly that has one version per precision from one
// template each: gemm_amd64.s, gemmFMA's strip kernel for float32 (16
// columns per panel) and float64 (8 columns) plus the panel packers;
// vec_amd64.s, the sparse-core step's vector kernels (group norms, row
// accumulations, rank-one gradient updates); and adam_amd64.s, Adam's
// update with and without the mask. Run it with go generate after editing a
// template; the generated files are checked in.
package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"strings"
	"text/template"
)

// vecKernel is one instantiation of the vector templates: Load reads four
// entries as float64 and Step is their size in bytes; Sfx, Bcast and Lanes
// describe the storage type's packed instructions; TuOff, NOff and ArgSize
// are axpy3's argument layout.
type vecKernel struct {
	S, Type, Load, Sfx, Bcast string
	Shift, Step, LaneShift    int
	TuOff, NOff, ArgSize      int
	Ext, Cmp                  string // keepCopy's mask widening and compare
}

// kernel is one instantiation of the strip template.
type kernel struct {
	Name, Type  string
	Cols, Shift int    // columns per panel; log2 of the element size
	Sfx, Bcast  string // packed-instruction suffix; broadcast instruction
}

func main() {
	var out bytes.Buffer
	out.WriteString(header)
	strip := template.Must(template.New("strip").Parse(stripTmpl))
	for _, k := range []kernel{
		{Name: "sgemmStrip", Type: "float32", Cols: 16, Shift: 2, Sfx: "PS", Bcast: "VBROADCASTSS"},
		{Name: "dgemmStrip", Type: "float64", Cols: 8, Shift: 3, Sfx: "PD", Bcast: "VBROADCASTSD"},
	} {
		if err := strip.Execute(&out, k); err != nil {
			log.Fatal(err)
		}
	}
	pk := template.Must(template.New("packers").Funcs(template.FuncMap{"t8x8": transpose8x8, "t4x4": transpose4x4}).Parse(packers))
	if err := pk.Execute(&out, nil); err != nil {
		log.Fatal(err)
	}
	write("gemm_amd64.s", out.Bytes())

	out.Reset()
	out.WriteString(header)
	out.WriteString(vecHeader)
	vec := template.Must(template.New("vec").Funcs(template.FuncMap{"mul": func(a, b int) int { return a * b }, "shiftl": func(a, b int) int { return a << b }}).Parse(vecTmpl))
	for _, k := range []vecKernel{
		{S: "F32", Type: "float32", Load: "VCVTPS2PD", Sfx: "PS", Bcast: "VBROADCASTSS", Shift: 2, Step: 16, LaneShift: 3, TuOff: 44, NOff: 48, ArgSize: 56, Ext: "VPMOVZXBD", Cmp: "VPCMPEQD"},
		{S: "F64", Type: "float64", Load: "VMOVUPD", Sfx: "PD", Bcast: "VBROADCASTSD", Shift: 3, Step: 32, LaneShift: 2, TuOff: 48, NOff: 56, ArgSize: 64, Ext: "VPMOVZXBQ", Cmp: "VPCMPEQQ"},
	} {
		if err := vec.Execute(&out, k); err != nil {
			log.Fatal(err)
		}
	}
	out.WriteString(rank4)
	write("vec_amd64.s", out.Bytes())

	out.Reset()
	out.WriteString(header)
	adam := template.Must(template.New("adam").Funcs(template.FuncMap{"mul": func(a, b int) int { return a * b }}).Parse(adamTmpl))
	for _, keep := range []bool{true, false} {
		for _, k := range []adamKernel{
			{Bits: "32", Type: "float32", Sfx: "PS", Bcast: "VBROADCASTSS", Size: 4, Lanes: 8, KeepReg: "Y8", KeepCvt: "VCVTDQ2PS"},
			{Bits: "64", Type: "float64", Sfx: "PD", Bcast: "VBROADCASTSD", Size: 8, Lanes: 4, KeepReg: "X8", KeepCvt: "VCVTDQ2PD"},
		} {
			k.Keep = keep
			if err := adam.Execute(&out, k); err != nil {
				log.Fatal(err)
			}
		}
	}
	write("adam_amd64.s", out.Bytes())
}

// adamKernel is one instantiation of the Adam template: masked (Keep) or
// not, in float32 or float64; KeepReg and KeepCvt widen the mask bytes to
// 0/1 in the storage type.
type adamKernel struct {
	Bits, Type, Sfx, Bcast, KeepReg, KeepCvt string
	Size, Lanes                              int
	Keep                                     bool
}

// transpose8x8 is the body of spack16T for one half of the panel: rows lo …
// lo+7 of the source (four from base register a, four from b, ld = DX and
// 3·ld = R8 apart) transposed in registers and stored at byte offset off of
// each 64-byte row of the panel at DI.
func transpose8x8(a, b string, lo, off int) string {
	var s strings.Builder
	fmt.Fprintf(&s, "\t// Rows %d–%d → dst[16p + %d…%d].\n", lo, lo+7, lo, lo+7)
	for i, r := range []string{a, b} {
		for j, idx := range []string{"", "(DX*1)", "(DX*2)", "(R8*1)"} {
			fmt.Fprintf(&s, "\tVMOVUPS (%s)%s, Y%d\n", r, idx, 4*i+j)
		}
	}
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&s, "\tVUNPCKLPS Y%d, Y%d, Y%d\n\tVUNPCKHPS Y%d, Y%d, Y%d\n", 2*i+1, 2*i, 8+2*i, 2*i+1, 2*i, 9+2*i)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			x, y := 8+4*i+j, 10+4*i+j
			fmt.Fprintf(&s, "\tVSHUFPS $0x44, Y%d, Y%d, Y%d\n\tVSHUFPS $0xEE, Y%d, Y%d, Y%d\n", y, x, 4*i+2*j, y, x, 4*i+2*j+1)
		}
	}
	for k, imm := range []string{"0x20", "0x31"} {
		for j := 0; j < 4; j++ {
			fmt.Fprintf(&s, "\tVPERM2F128 $%s, Y%d, Y%d, Y%d\n", imm, 4+j, j, 8+4*k+j)
		}
	}
	for j := 0; j < 8; j++ {
		fmt.Fprintf(&s, "\tVMOVUPS Y%d, %s(DI)\n", 8+j, disp(64*j+off))
	}
	return s.String()
}

// transpose4x4 is the body of dpack8T for one half of the panel: rows lo …
// lo+3 of the source (from base register a, ld = DX and 3·ld = R8 apart)
// transposed in registers and stored at byte offset off of each 64-byte row
// of the panel at DI.
func transpose4x4(a string, lo, off int) string {
	var s strings.Builder
	fmt.Fprintf(&s, "\t// Rows %d–%d → dst[8p + %d…%d].\n", lo, lo+3, lo, lo+3)
	for j, idx := range []string{"", "(DX*1)", "(DX*2)", "(R8*1)"} {
		fmt.Fprintf(&s, "\tVMOVUPD (%s)%s, Y%d\n", a, idx, j)
	}
	for i := 0; i < 2; i++ {
		fmt.Fprintf(&s, "\tVUNPCKLPD Y%d, Y%d, Y%d\n\tVUNPCKHPD Y%d, Y%d, Y%d\n", 2*i+1, 2*i, 4+2*i, 2*i+1, 2*i, 5+2*i)
	}
	for k, imm := range []string{"0x20", "0x31"} {
		for j := 0; j < 2; j++ {
			fmt.Fprintf(&s, "\tVPERM2F128 $%s, Y%d, Y%d, Y%d\n", imm, 6+j, 4+j, 2*k+j)
		}
	}
	for j := 0; j < 4; j++ {
		fmt.Fprintf(&s, "\tVMOVUPD Y%d, %s(DI)\n", j, disp(64*j+off))
	}
	return s.String()
}

// disp writes a displacement, empty for 0.
func disp(d int) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func write(name string, b []byte) {
	if err := os.WriteFile(name, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

const header = `// Code generated by asm_gen.go; DO NOT EDIT.

//go:build amd64 && !purego

#include "textflag.h"
`

const stripTmpl = `
// func {{.Name}}(m, k, np int, a unsafe.Pointer, rs, ks int, b, c unsafe.Pointer, ldc int, f unsafe.Pointer, ldf int, mode int)
//
// A strip of m ≤ 6 rows and {{.Cols}}·np columns of C = F + A·B in {{.Type}}, one
// 6 × {{.Cols}} block per packed panel of B: A's entry (r, p) is a[r·rs + p·ks];
// panel q holds rows p = 0 … k−1 of B's columns {{.Cols}}q … {{.Cols}}q+{{.Cols}}−1 at
// b[{{.Cols}}(qk + p)]; C's and F's rows r start at c[r·ldc] and f[r·ldf] (all
// in elements). F is 0 (mode 0), the block at f (mode 1; f may be c) or its
// negation (mode 2). Each entry of C is one chain of fused multiply-adds
// over p = 0, 1, …, k−1, starting from F's entry, so the result does not
// depend on how a caller splits m, n or k. Rows past m repeat row m−1's
// reads and are not stored. k ≥ 1, np ≥ 1. The arguments c, f and np are
// advanced in place from panel to panel.
TEXT ·{{.Name}}(SB), NOSPLIT, $0-96
	MOVQ m+0(FP), CX
	MOVQ a+24(FP), SI
	MOVQ rs+32(FP), R8
	SHLQ ${{.Shift}}, R8

	// Row pointers of A, clamped to row m−1.
	MOVQ SI, R11
	ADDQ R8, R11
	CMPQ CX, $2
	CMOVQLT SI, R11
	MOVQ R11, R12
	ADDQ R8, R12
	CMPQ CX, $3
	CMOVQLT R11, R12
	MOVQ R12, R13
	ADDQ R8, R13
	CMPQ CX, $4
	CMOVQLT R12, R13
	MOVQ R13, R14
	ADDQ R8, R14
	CMPQ CX, $5
	CMOVQLT R13, R14
	MOVQ R14, R15
	ADDQ R8, R15
	CMPQ CX, $6
	CMOVQLT R14, R15

	MOVQ ks+40(FP), R10
	SHLQ ${{.Shift}}, R10
	MOVQ b+48(FP), BX
	MOVQ ldc+64(FP), DI
	SHLQ ${{.Shift}}, DI

panel:
	MOVQ m+0(FP), CX
	MOVQ c+56(FP), DX
	VXOR{{.Sfx}} Y0, Y0, Y0
	VXOR{{.Sfx}} Y1, Y1, Y1
	VXOR{{.Sfx}} Y2, Y2, Y2
	VXOR{{.Sfx}} Y3, Y3, Y3
	VXOR{{.Sfx}} Y4, Y4, Y4
	VXOR{{.Sfx}} Y5, Y5, Y5
	VXOR{{.Sfx}} Y6, Y6, Y6
	VXOR{{.Sfx}} Y7, Y7, Y7
	VXOR{{.Sfx}} Y8, Y8, Y8
	VXOR{{.Sfx}} Y9, Y9, Y9
	VXOR{{.Sfx}} Y10, Y10, Y10
	VXOR{{.Sfx}} Y11, Y11, Y11

	MOVQ mode+88(FP), AX
	CMPQ AX, $0
	JEQ start
	CMPQ AX, $1
	JEQ load
	// mode 2: F = −f, as 0 − f (exact).
	MOVQ f+72(FP), AX
	MOVQ ldf+80(FP), R9
	SHLQ ${{.Shift}}, R9
	VSUB{{.Sfx}} (AX), Y0, Y0
	VSUB{{.Sfx}} 32(AX), Y1, Y1
	CMPQ CX, $2
	JLT start
	ADDQ R9, AX
	VSUB{{.Sfx}} (AX), Y2, Y2
	VSUB{{.Sfx}} 32(AX), Y3, Y3
	CMPQ CX, $3
	JLT start
	ADDQ R9, AX
	VSUB{{.Sfx}} (AX), Y4, Y4
	VSUB{{.Sfx}} 32(AX), Y5, Y5
	CMPQ CX, $4
	JLT start
	ADDQ R9, AX
	VSUB{{.Sfx}} (AX), Y6, Y6
	VSUB{{.Sfx}} 32(AX), Y7, Y7
	CMPQ CX, $5
	JLT start
	ADDQ R9, AX
	VSUB{{.Sfx}} (AX), Y8, Y8
	VSUB{{.Sfx}} 32(AX), Y9, Y9
	CMPQ CX, $6
	JLT start
	ADDQ R9, AX
	VSUB{{.Sfx}} (AX), Y10, Y10
	VSUB{{.Sfx}} 32(AX), Y11, Y11
	JMP start

load:
	MOVQ f+72(FP), AX
	MOVQ ldf+80(FP), R9
	SHLQ ${{.Shift}}, R9
	VMOVU{{.Sfx}} (AX), Y0
	VMOVU{{.Sfx}} 32(AX), Y1
	CMPQ CX, $2
	JLT start
	ADDQ R9, AX
	VMOVU{{.Sfx}} (AX), Y2
	VMOVU{{.Sfx}} 32(AX), Y3
	CMPQ CX, $3
	JLT start
	ADDQ R9, AX
	VMOVU{{.Sfx}} (AX), Y4
	VMOVU{{.Sfx}} 32(AX), Y5
	CMPQ CX, $4
	JLT start
	ADDQ R9, AX
	VMOVU{{.Sfx}} (AX), Y6
	VMOVU{{.Sfx}} 32(AX), Y7
	CMPQ CX, $5
	JLT start
	ADDQ R9, AX
	VMOVU{{.Sfx}} (AX), Y8
	VMOVU{{.Sfx}} 32(AX), Y9
	CMPQ CX, $6
	JLT start
	ADDQ R9, AX
	VMOVU{{.Sfx}} (AX), Y10
	VMOVU{{.Sfx}} 32(AX), Y11

start:
	XORQ AX, AX
	MOVQ k+8(FP), CX

loop:
	VMOVU{{.Sfx}} (BX), Y12
	VMOVU{{.Sfx}} 32(BX), Y13
	{{.Bcast}} (SI)(AX*1), Y14
	VFMADD231{{.Sfx}} Y12, Y14, Y0
	VFMADD231{{.Sfx}} Y13, Y14, Y1
	{{.Bcast}} (R11)(AX*1), Y15
	VFMADD231{{.Sfx}} Y12, Y15, Y2
	VFMADD231{{.Sfx}} Y13, Y15, Y3
	{{.Bcast}} (R12)(AX*1), Y14
	VFMADD231{{.Sfx}} Y12, Y14, Y4
	VFMADD231{{.Sfx}} Y13, Y14, Y5
	{{.Bcast}} (R13)(AX*1), Y15
	VFMADD231{{.Sfx}} Y12, Y15, Y6
	VFMADD231{{.Sfx}} Y13, Y15, Y7
	{{.Bcast}} (R14)(AX*1), Y14
	VFMADD231{{.Sfx}} Y12, Y14, Y8
	VFMADD231{{.Sfx}} Y13, Y14, Y9
	{{.Bcast}} (R15)(AX*1), Y15
	VFMADD231{{.Sfx}} Y12, Y15, Y10
	VFMADD231{{.Sfx}} Y13, Y15, Y11
	ADDQ R10, AX
	ADDQ $64, BX
	DECQ CX
	JNZ loop

	MOVQ m+0(FP), CX
	VMOVU{{.Sfx}} Y0, (DX)
	VMOVU{{.Sfx}} Y1, 32(DX)
	CMPQ CX, $2
	JLT done
	ADDQ DI, DX
	VMOVU{{.Sfx}} Y2, (DX)
	VMOVU{{.Sfx}} Y3, 32(DX)
	CMPQ CX, $3
	JLT done
	ADDQ DI, DX
	VMOVU{{.Sfx}} Y4, (DX)
	VMOVU{{.Sfx}} Y5, 32(DX)
	CMPQ CX, $4
	JLT done
	ADDQ DI, DX
	VMOVU{{.Sfx}} Y6, (DX)
	VMOVU{{.Sfx}} Y7, 32(DX)
	CMPQ CX, $5
	JLT done
	ADDQ DI, DX
	VMOVU{{.Sfx}} Y8, (DX)
	VMOVU{{.Sfx}} Y9, 32(DX)
	CMPQ CX, $6
	JLT done
	ADDQ DI, DX
	VMOVU{{.Sfx}} Y10, (DX)
	VMOVU{{.Sfx}} Y11, 32(DX)

done:
	// Next panel: BX already points at it.
	ADDQ $64, c+56(FP)
	ADDQ $64, f+72(FP)
	DECQ np+16(FP)
	JNZ panel
	VZEROUPPER
	RET
`

const packers = `
// func packPanels(dst unsafe.Pointer, pstride int, src unsafe.Pointer, ld, rows, np int)
//
// Packs the rows × 64np-byte block at src (row p at src + p·ld bytes) into
// np panels of the strip kernels' B: bytes 64q … 64q+63 of row p go to
// dst + q·pstride + 64p. Rows are read one after another, each across all
// panels, so the hardware prefetcher and the TLB see one sequential stream
// per row.
TEXT ·packPanels(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ pstride+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ ld+24(FP), DX
	MOVQ rows+32(FP), CX
	MOVQ np+40(FP), R9
	TESTQ CX, CX
	JEQ packdone
	TESTQ R9, R9
	JEQ packdone

packrow:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R9, R10

packpanel:
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS Y0, (BX)
	VMOVUPS Y1, 32(BX)
	ADDQ $64, AX
	ADDQ R8, BX
	DECQ R10
	JNZ packpanel

	ADDQ DX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ packrow

packdone:
	VZEROUPPER
	RET

// func spack16T(dst, src unsafe.Pointer, ld, cols int)
//
// Copies the transpose of the 16 × cols float32 block at src (row q at
// src[q·ld]) to dst, dst[16p + q] = src[q·ld + p] (a panel of sgemmStrip's B
// read from a matrix used transposed); cols is a multiple of 8. Each 8 × 8
// piece is transposed in registers.
TEXT ·spack16T(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ $2, DX
	MOVQ cols+24(FP), CX
	SHRQ $3, CX
	TESTQ CX, CX
	JEQ tdone
	LEAQ (DX)(DX*2), R8 // 3·ld
	LEAQ (SI)(DX*4), R9 // row 4
	LEAQ (R9)(DX*4), R10 // row 8
	LEAQ (R10)(DX*4), R11 // row 12

tloop:
{{t8x8 "SI" "R9" 0 0}}
{{t8x8 "R10" "R11" 8 32}}
	ADDQ $32, SI
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $512, DI
	DECQ CX
	JNZ tloop

tdone:
	VZEROUPPER
	RET

// func dpack8T(dst, src unsafe.Pointer, ld, cols int)
//
// Copies the transpose of the 8 × cols float64 block at src (row q at
// src[q·ld]) to dst, dst[8p + q] = src[q·ld + p] (a panel of dgemmStrip's B
// read from a matrix used transposed); cols is a multiple of 4. Each 4 × 4
// piece is transposed in registers.
TEXT ·dpack8T(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ $3, DX
	MOVQ cols+24(FP), CX
	SHRQ $2, CX
	TESTQ CX, CX
	JEQ dtdone
	LEAQ (DX)(DX*2), R8 // 3·ld
	LEAQ (SI)(DX*4), R9 // row 4

dtloop:
{{t4x4 "SI" 0 0}}
{{t4x4 "R9" 4 32}}
	ADDQ $32, SI
	ADDQ $32, R9
	ADDQ $256, DI
	DECQ CX
	JNZ dtloop

dtdone:
	VZEROUPPER
	RET
`

const vecHeader = `
DATA absMask64<>+0(SB)/8, $0x7fffffffffffffff
GLOBL absMask64<>(SB), RODATA|NOPTR, $8
`

const vecTmpl = `
// func groupL1{{.S}}(w *float64, ldw int, x *{{.Type}}, ldx, rows, ng int)
//
// For each of rows rows and each of ng groups of four (ng a multiple of 4):
// w[r·ldw + q] = ((|x0| + |x1|) + |x2|) + |x3| in float64, x0…x3 being
// x[r·ldx + 4q …]. Four groups at a time are {{if eq .Type "float32"}}widened to float64 and
// {{end}}transposed in registers so that each lane adds its group's entries in the
// scalar loop's order: the results are bitwise those of groupL1Go
// (loops.go).
TEXT ·groupL1{{.S}}(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ ldw+8(FP), R8
	SHLQ $3, R8
	MOVQ x+16(FP), SI
	MOVQ ldx+24(FP), R9
	SHLQ ${{.Shift}}, R9
	MOVQ rows+32(FP), CX
	MOVQ ng+40(FP), R10
	SHRQ $2, R10
	TESTQ CX, CX
	JEQ l1done
	TESTQ R10, R10
	JEQ l1done
	VBROADCASTSD absMask64<>(SB), Y15

l1row:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R10, DX

l1quad:
	{{.Load}} (AX), Y0
	{{.Load}} {{.Step}}(AX), Y1
	{{.Load}} {{mul .Step 2}}(AX), Y2
	{{.Load}} {{mul .Step 3}}(AX), Y3
	VANDPD Y15, Y0, Y0
	VANDPD Y15, Y1, Y1
	VANDPD Y15, Y2, Y2
	VANDPD Y15, Y3, Y3
	VUNPCKLPD Y1, Y0, Y4 // g0[0] g1[0] g0[2] g1[2]
	VUNPCKHPD Y1, Y0, Y5 // g0[1] g1[1] g0[3] g1[3]
	VUNPCKLPD Y3, Y2, Y6
	VUNPCKHPD Y3, Y2, Y7
	VPERM2F128 $0x20, Y6, Y4, Y0 // entry 0 of g0…g3
	VPERM2F128 $0x20, Y7, Y5, Y1 // entry 1
	VPERM2F128 $0x31, Y6, Y4, Y2 // entry 2
	VPERM2F128 $0x31, Y7, Y5, Y3 // entry 3
	VADDPD Y1, Y0, Y0
	VADDPD Y2, Y0, Y0
	VADDPD Y3, Y0, Y0
	VMOVUPD Y0, (BX)
	ADDQ ${{mul .Step 4}}, AX
	ADDQ $32, BX
	DECQ DX
	JNZ l1quad

	ADDQ R9, SI
	ADDQ R8, DI
	DECQ CX
	JNZ l1row

l1done:
	VZEROUPPER
	RET

// func accumRows{{.S}}(out *float64, x *{{.Type}}, ld, n int, coef *float64, rows int)
//
// out[w] += float64(x[u·ld + w])·coef[u] for u = 0, 1, …, rows−1 in turn
// and w < n (a multiple of 4), four entries at a time, each rounded as the
// Go loop's product and then its sum: bitwise the Go loop's result.
TEXT ·accumRows{{.S}}(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ ${{.Shift}}, DX
	MOVQ n+24(FP), R8
	SHRQ $2, R8
	MOVQ coef+32(FP), R9
	MOVQ rows+40(FP), CX
	TESTQ CX, CX
	JEQ adone
	TESTQ R8, R8
	JEQ adone

arow:
	VBROADCASTSD (R9), Y0
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R8, R10

aquad:
	{{.Load}} (AX), Y1
	VMULPD Y0, Y1, Y1
	VADDPD (BX), Y1, Y1
	VMOVUPD Y1, (BX)
	ADDQ ${{.Step}}, AX
	ADDQ $32, BX
	DECQ R10
	JNZ aquad

	ADDQ DX, SI
	ADDQ $8, R9
	DECQ CX
	JNZ arow

adone:
	VZEROUPPER
	RET

// func axpy3{{.S}}(gr, tg, gs, d, bdh *{{.Type}}, au, tu {{.Type}}, n int)
//
// gr += au·d, tg += tu·d and gs += tu·bdh over n entries (a multiple of 32
// bytes' worth), each a product rounded and then a sum rounded, as axpy3Go
// (loops.go): bitwise its result.
TEXT ·axpy3{{.S}}(SB), NOSPLIT, $0-{{.ArgSize}}
	MOVQ gr+0(FP), DI
	MOVQ tg+8(FP), SI
	MOVQ gs+16(FP), DX
	MOVQ d+24(FP), R8
	MOVQ bdh+32(FP), R9
	{{.Bcast}} au+40(FP), Y0
	{{.Bcast}} tu+{{.TuOff}}(FP), Y1
	MOVQ n+{{.NOff}}(FP), CX
	SHRQ ${{.LaneShift}}, CX
	TESTQ CX, CX
	JEQ xdone
	XORQ AX, AX

xloop:
	VMOVU{{.Sfx}} (R8)(AX*1), Y2
	VMUL{{.Sfx}} Y0, Y2, Y3
	VADD{{.Sfx}} (DI)(AX*1), Y3, Y3
	VMOVU{{.Sfx}} Y3, (DI)(AX*1)
	VMUL{{.Sfx}} Y1, Y2, Y4
	VADD{{.Sfx}} (SI)(AX*1), Y4, Y4
	VMOVU{{.Sfx}} Y4, (SI)(AX*1)
	VMUL{{.Sfx}} (R9)(AX*1), Y1, Y5
	VADD{{.Sfx}} (DX)(AX*1), Y5, Y5
	VMOVU{{.Sfx}} Y5, (DX)(AX*1)
	ADDQ $32, AX
	DECQ CX
	JNZ xloop

xdone:
	VZEROUPPER
	RET

// func keepCopy{{.S}}(s, v *{{.Type}}, keep *bool, n int)
//
// s[k] = v[k] where keep[k], else +0, for k < n (a multiple of 32 bytes'
// worth): the mask widened and compared with zero, then and-not, so
// without a branch; bitwise keepCopyGo (loops.go).
TEXT ·keepCopy{{.S}}(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ keep+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ ${{.LaneShift}}, CX
	TESTQ CX, CX
	JEQ kdone
	VPXOR Y15, Y15, Y15

kloop:
	{{.Ext}} (DX), Y1
	{{.Cmp}} Y15, Y1, Y2
	VANDN{{.Sfx}} (SI), Y2, Y3
	VMOVU{{.Sfx}} Y3, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ ${{mul 1 (shiftl 1 .LaneShift)}}, DX
	DECQ CX
	JNZ kloop

kdone:
	VZEROUPPER
	RET
`

const rank4 = `
// func rank4Update(grow, w, l0 *float64, ld int, d0, d1, d2, d3, kr float64, n int)
//
// For v < n (a multiple of 4), with l_q = l0 + q·ld: d = ((d0·l0[v] +
// d1·l1[v]) + d2·l2[v]) + d3·l3[v], grow[v] += kr·d and w[v] += d, every
// operation rounded as in rank4Go (loops.go): bitwise its result.
TEXT ·rank4Update(SB), NOSPLIT, $0-80
	MOVQ grow+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ l0+16(FP), R8
	MOVQ ld+24(FP), DX
	SHLQ $3, DX
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	LEAQ (R10)(DX*1), R11
	VBROADCASTSD d0+32(FP), Y0
	VBROADCASTSD d1+40(FP), Y1
	VBROADCASTSD d2+48(FP), Y2
	VBROADCASTSD d3+56(FP), Y3
	VBROADCASTSD kr+64(FP), Y4
	MOVQ n+72(FP), CX
	SHRQ $2, CX
	TESTQ CX, CX
	JEQ rdone
	XORQ AX, AX

rloop:
	VMULPD (R8)(AX*1), Y0, Y5
	VMULPD (R9)(AX*1), Y1, Y6
	VADDPD Y6, Y5, Y5
	VMULPD (R10)(AX*1), Y2, Y6
	VADDPD Y6, Y5, Y5
	VMULPD (R11)(AX*1), Y3, Y6
	VADDPD Y6, Y5, Y5
	VMULPD Y4, Y5, Y6
	VADDPD (DI)(AX*1), Y6, Y6
	VMOVUPD Y6, (DI)(AX*1)
	VADDPD (SI)(AX*1), Y5, Y5
	VMOVUPD Y5, (SI)(AX*1)
	ADDQ $32, AX
	DECQ CX
	JNZ rloop

rdone:
	VZEROUPPER
	RET
`

const adamTmpl = `
{{- $n := print "adam" .Bits "AVX2"}}{{if .Keep}}{{$n = print "adamKeep" .Bits "AVX2"}}{{end}}
// func {{$n}}(x, g, m, v []{{.Type}}{{if .Keep}}, keep []bool, s []{{.Type}}{{end}}, c *AdamConsts[{{.Type}}])
//
{{- if .Keep}}
// The masked Adam update of adamKeepGo for {{.Type}}, {{.Lanes}} entries at a time,
// also writing s = x⊙keep;
{{- else}}
// The unmasked Adam update of adamGo (A's and B's blocks) for {{.Type}},
// {{.Lanes}} entries at a time;
{{- end}}
// len(x) is a multiple of {{.Lanes}} and the other slices are at least as
// long. Every lane performs the scalar loop's operations in the same order,
// each correctly rounded, and no fused multiply-add: the results are
// bitwise those of the Go loop.
TEXT ·{{$n}}(SB), NOSPLIT, $0-{{if .Keep}}152{{else}}104{{end}}
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ g_base+24(FP), DI
	MOVQ m_base+48(FP), R8
	MOVQ v_base+72(FP), R9
{{- if .Keep}}
	MOVQ keep_base+96(FP), R10
	MOVQ s_base+120(FP), R11
	MOVQ c+144(FP), R12
{{- else}}
	MOVQ c+96(FP), R12
{{- end}}
	{{.Bcast}} 0(R12), Y1 // lr1
	{{.Bcast}} {{mul 1 .Size}}(R12), Y2 // rb2
	{{.Bcast}} {{mul 2 .Size}}(R12), Y3 // eps
	{{.Bcast}} {{mul 3 .Size}}(R12), Y4 // b1
	{{.Bcast}} {{mul 4 .Size}}(R12), Y5 // b2
	{{.Bcast}} {{mul 5 .Size}}(R12), Y6 // c1
	{{.Bcast}} {{mul 6 .Size}}(R12), Y7 // c2
{{- if .Keep}}
	VXOR{{.Sfx}} Y15, Y15, Y15 // +0
{{- end}}
	XORQ AX, AX
	TESTQ CX, CX
	JEQ done

loop:
{{- if .Keep}}
	VPMOVZXBD (R10)(AX*1), {{.KeepReg}} // keep as 0/1 integers
	{{.KeepCvt}} {{.KeepReg}}, Y8 // kf
	VMOVU{{.Sfx}} (DI)(AX*{{.Size}}), Y9
	VMUL{{.Sfx}} Y8, Y9, Y9 // g = g·kf
{{- else}}
	VMOVU{{.Sfx}} (DI)(AX*{{.Size}}), Y9
{{- end}}
	VMOVU{{.Sfx}} (R8)(AX*{{.Size}}), Y10
	VMUL{{.Sfx}} Y4, Y10, Y10 // b1·m
	VMUL{{.Sfx}} Y6, Y9, Y11 // c1·g
	VADD{{.Sfx}} Y11, Y10, Y10 // mk
	VMOVU{{.Sfx}} Y10, (R8)(AX*{{.Size}})
	VMOVU{{.Sfx}} (R9)(AX*{{.Size}}), Y11
	VMUL{{.Sfx}} Y5, Y11, Y11 // b2·v
	VMUL{{.Sfx}} Y7, Y9, Y12 // c2·g
	VMUL{{.Sfx}} Y9, Y12, Y12 // (c2·g)·g
	VADD{{.Sfx}} Y12, Y11, Y11 // vk
	VMOVU{{.Sfx}} Y11, (R9)(AX*{{.Size}})
	VMUL{{.Sfx}} Y2, Y11, Y11 // vk·rb2
	VSQRT{{.Sfx}} Y11, Y11
	VADD{{.Sfx}} Y3, Y11, Y11 // √(vk·rb2) + eps
	VMUL{{.Sfx}} Y1, Y10, Y10 // lr1·mk
	VDIV{{.Sfx}} Y11, Y10, Y10 // step = lr1·mk / (√(vk·rb2) + eps)
{{- if .Keep}}
	VMUL{{.Sfx}} Y8, Y10, Y10 // kf·step
{{- end}}
	VMOVU{{.Sfx}} (SI)(AX*{{.Size}}), Y12
	VSUB{{.Sfx}} Y10, Y12, Y12 // x − step
	VMOVU{{.Sfx}} Y12, (SI)(AX*{{.Size}})
{{- if .Keep}}
	VMUL{{.Sfx}} Y8, Y12, Y12 // xk·kf
	VADD{{.Sfx}} Y15, Y12, Y12 // + 0
	VMOVU{{.Sfx}} Y12, (R11)(AX*{{.Size}})
{{- end}}
	ADDQ ${{.Lanes}}, AX
	CMPQ AX, CX
	JB loop

done:
	VZEROUPPER
	RET
`
