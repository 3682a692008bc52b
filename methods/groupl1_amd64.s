//go:build amd64 && !purego

#include "textflag.h"

DATA absMask64<>+0(SB)/8, $0x7fffffffffffffff
GLOBL absMask64<>(SB), RODATA|NOPTR, $8

// func groupL1AVX2(w *float64, ldw int, x *float32, ldx, rows, ng int)
//
// For each of rows rows and each of ng groups of four (ng a multiple of 4):
// w[r·ldw + q] = ((|x0| + |x1|) + |x2|) + |x3| in float64, x0…x3 being
// x[r·ldx + 4q …]. Four groups at a time are widened to float64 and
// transposed in registers so that each lane adds its group's entries in the
// scalar loop's order: the results are bitwise those of groupWeightsCols's
// Go loop.
TEXT ·groupL1AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ ldw+8(FP), R8
	SHLQ $3, R8
	MOVQ x+16(FP), SI
	MOVQ ldx+24(FP), R9
	SHLQ $2, R9
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
	VCVTPS2PD (AX), Y0
	VCVTPS2PD 16(AX), Y1
	VCVTPS2PD 32(AX), Y2
	VCVTPS2PD 48(AX), Y3
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
	ADDQ $64, AX
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
