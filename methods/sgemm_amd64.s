//go:build amd64 && !purego

#include "textflag.h"

// func sgemmStrip(m, k, np int, a *float32, rs, ks int, b, c *float32, ldc int, f *float32, ldf int, mode int)
//
// A strip of m ≤ 6 rows and 16·np columns of C = F + A·B in float32, one
// 6 × 16 block per packed panel of B: A's entry (r, p) is a[r·rs + p·ks];
// panel q holds rows p = 0 … k−1 of B's columns 16q … 16q+15 at
// b[16(qk + p)]; C's and F's rows r start at c[r·ldc] and f[r·ldf]. F is 0
// (mode 0), the block at f (mode 1; f may be c) or its negation (mode 2).
// Each entry of C is one chain of fused multiply-adds over p = 0, 1, …, k−1,
// starting from F's entry, so the result does not depend on how a caller
// splits m, n or k. Rows past m repeat row m−1's reads and are not stored.
// k ≥ 1, np ≥ 1. The arguments c, f and np are advanced in place from panel
// to panel.
TEXT ·sgemmStrip(SB), NOSPLIT, $0-96
	MOVQ m+0(FP), CX
	MOVQ a+24(FP), SI
	MOVQ rs+32(FP), R8
	SHLQ $2, R8

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
	SHLQ $2, R10
	MOVQ b+48(FP), BX
	MOVQ ldc+64(FP), DI
	SHLQ $2, DI

panel:
	MOVQ m+0(FP), CX
	MOVQ c+56(FP), DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	MOVQ mode+88(FP), AX
	CMPQ AX, $0
	JEQ start
	CMPQ AX, $1
	JEQ load
	// mode 2: F = −f, as 0 − f (exact).
	MOVQ f+72(FP), AX
	MOVQ ldf+80(FP), R9
	SHLQ $2, R9
	VSUBPS (AX), Y0, Y0
	VSUBPS 32(AX), Y1, Y1
	CMPQ CX, $2
	JLT start
	ADDQ R9, AX
	VSUBPS (AX), Y2, Y2
	VSUBPS 32(AX), Y3, Y3
	CMPQ CX, $3
	JLT start
	ADDQ R9, AX
	VSUBPS (AX), Y4, Y4
	VSUBPS 32(AX), Y5, Y5
	CMPQ CX, $4
	JLT start
	ADDQ R9, AX
	VSUBPS (AX), Y6, Y6
	VSUBPS 32(AX), Y7, Y7
	CMPQ CX, $5
	JLT start
	ADDQ R9, AX
	VSUBPS (AX), Y8, Y8
	VSUBPS 32(AX), Y9, Y9
	CMPQ CX, $6
	JLT start
	ADDQ R9, AX
	VSUBPS (AX), Y10, Y10
	VSUBPS 32(AX), Y11, Y11
	JMP start

load:
	MOVQ f+72(FP), AX
	MOVQ ldf+80(FP), R9
	SHLQ $2, R9
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	CMPQ CX, $2
	JLT start
	ADDQ R9, AX
	VMOVUPS (AX), Y2
	VMOVUPS 32(AX), Y3
	CMPQ CX, $3
	JLT start
	ADDQ R9, AX
	VMOVUPS (AX), Y4
	VMOVUPS 32(AX), Y5
	CMPQ CX, $4
	JLT start
	ADDQ R9, AX
	VMOVUPS (AX), Y6
	VMOVUPS 32(AX), Y7
	CMPQ CX, $5
	JLT start
	ADDQ R9, AX
	VMOVUPS (AX), Y8
	VMOVUPS 32(AX), Y9
	CMPQ CX, $6
	JLT start
	ADDQ R9, AX
	VMOVUPS (AX), Y10
	VMOVUPS 32(AX), Y11

start:
	XORQ AX, AX
	MOVQ k+8(FP), CX

loop:
	VMOVUPS (BX), Y12
	VMOVUPS 32(BX), Y13
	VBROADCASTSS (SI)(AX*1), Y14
	VFMADD231PS Y12, Y14, Y0
	VFMADD231PS Y13, Y14, Y1
	VBROADCASTSS (R11)(AX*1), Y15
	VFMADD231PS Y12, Y15, Y2
	VFMADD231PS Y13, Y15, Y3
	VBROADCASTSS (R12)(AX*1), Y14
	VFMADD231PS Y12, Y14, Y4
	VFMADD231PS Y13, Y14, Y5
	VBROADCASTSS (R13)(AX*1), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VBROADCASTSS (R14)(AX*1), Y14
	VFMADD231PS Y12, Y14, Y8
	VFMADD231PS Y13, Y14, Y9
	VBROADCASTSS (R15)(AX*1), Y15
	VFMADD231PS Y12, Y15, Y10
	VFMADD231PS Y13, Y15, Y11
	ADDQ R10, AX
	ADDQ $64, BX
	DECQ CX
	JNZ loop

	MOVQ m+0(FP), CX
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	CMPQ CX, $2
	JLT done
	ADDQ DI, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	CMPQ CX, $3
	JLT done
	ADDQ DI, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	CMPQ CX, $4
	JLT done
	ADDQ DI, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	CMPQ CX, $5
	JLT done
	ADDQ DI, DX
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	CMPQ CX, $6
	JLT done
	ADDQ DI, DX
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)

done:
	// Next panel: BX already points at it.
	ADDQ $64, c+56(FP)
	ADDQ $64, f+72(FP)
	DECQ np+16(FP)
	JNZ panel
	VZEROUPPER
	RET

// func spack16(dst *float32, pstride int, src *float32, ld, rows, np int)
//
// Packs the rows × 16np block at src (row p at src[p·ld]) into np panels of
// sgemmStrip's B: columns 16q … 16q+15 of row p go to dst[q·pstride + 16p].
// Rows are read one after another, each across all panels, so the hardware
// prefetcher and the TLB see one sequential stream per row.
TEXT ·spack16(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ pstride+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ ld+24(FP), DX
	SHLQ $2, DX
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

// func spack16T(dst, src *float32, ld, cols int)
//
// Copies the transpose of the 16 × cols block at src (row q at src[q·ld]) to
// dst, dst[16p + q] = src[q·ld + p] (a panel of sgemmStrip's B read from a
// matrix used transposed); cols is a multiple of 8. Each 8 × 8 piece is
// transposed in registers.
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
	// Rows 0–7 → dst[16p + 0…7].
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(DX*1), Y1
	VMOVUPS (SI)(DX*2), Y2
	VMOVUPS (SI)(R8*1), Y3
	VMOVUPS (R9), Y4
	VMOVUPS (R9)(DX*1), Y5
	VMOVUPS (R9)(DX*2), Y6
	VMOVUPS (R9)(R8*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 64(DI)
	VMOVUPS Y10, 128(DI)
	VMOVUPS Y11, 192(DI)
	VMOVUPS Y12, 256(DI)
	VMOVUPS Y13, 320(DI)
	VMOVUPS Y14, 384(DI)
	VMOVUPS Y15, 448(DI)

	// Rows 8–15 → dst[16p + 8…15].
	VMOVUPS (R10), Y0
	VMOVUPS (R10)(DX*1), Y1
	VMOVUPS (R10)(DX*2), Y2
	VMOVUPS (R10)(R8*1), Y3
	VMOVUPS (R11), Y4
	VMOVUPS (R11)(DX*1), Y5
	VMOVUPS (R11)(DX*2), Y6
	VMOVUPS (R11)(R8*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS Y8, 32(DI)
	VMOVUPS Y9, 96(DI)
	VMOVUPS Y10, 160(DI)
	VMOVUPS Y11, 224(DI)
	VMOVUPS Y12, 288(DI)
	VMOVUPS Y13, 352(DI)
	VMOVUPS Y14, 416(DI)
	VMOVUPS Y15, 480(DI)

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
