//go:build amd64 && !purego

#include "textflag.h"

// func adamKeep32AVX2(x, g, m, v []float32, keep []bool, s []float32, c *adamConsts[float32])
//
// The masked Adam update of adamKeepGo for float32, eight entries at a time;
// len(x) is a multiple of 8 and the other slices are at least as long. Every
// lane performs the scalar loop's operations in the same order, each
// correctly rounded, and no fused multiply-add: the results are bitwise
// those of adamKeepGo.
TEXT ·adamKeep32AVX2(SB), NOSPLIT, $0-152
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ g_base+24(FP), DI
	MOVQ m_base+48(FP), R8
	MOVQ v_base+72(FP), R9
	MOVQ keep_base+96(FP), R10
	MOVQ s_base+120(FP), R11
	MOVQ c+144(FP), R12
	VBROADCASTSS 0(R12), Y1  // lr1
	VBROADCASTSS 4(R12), Y2  // rb2
	VBROADCASTSS 8(R12), Y3  // eps
	VBROADCASTSS 12(R12), Y4 // b1
	VBROADCASTSS 16(R12), Y5 // b2
	VBROADCASTSS 20(R12), Y6 // c1
	VBROADCASTSS 24(R12), Y7 // c2
	VXORPS Y15, Y15, Y15     // +0
	XORQ AX, AX
	TESTQ CX, CX
	JEQ done

loop:
	VPMOVZXBD (R10)(AX*1), Y8 // keep as 0/1 integers
	VCVTDQ2PS Y8, Y8          // kf
	VMOVUPS (DI)(AX*4), Y9
	VMULPS Y8, Y9, Y9         // gk = g·kf
	VMOVUPS (R8)(AX*4), Y10
	VMULPS Y4, Y10, Y10       // b1·m
	VMULPS Y6, Y9, Y11        // c1·gk
	VADDPS Y11, Y10, Y10      // mk
	VMOVUPS Y10, (R8)(AX*4)
	VMOVUPS (R9)(AX*4), Y11
	VMULPS Y5, Y11, Y11       // b2·v
	VMULPS Y7, Y9, Y12        // c2·gk
	VMULPS Y9, Y12, Y12       // (c2·gk)·gk
	VADDPS Y12, Y11, Y11      // vk
	VMOVUPS Y11, (R9)(AX*4)
	VMULPS Y2, Y11, Y11       // vk·rb2
	VSQRTPS Y11, Y11
	VADDPS Y3, Y11, Y11       // √(vk·rb2) + eps
	VMULPS Y1, Y10, Y10       // lr1·mk
	VDIVPS Y11, Y10, Y10      // lr1·mk / (√(vk·rb2) + eps)
	VMULPS Y8, Y10, Y10       // kf·step
	VMOVUPS (SI)(AX*4), Y12
	VSUBPS Y10, Y12, Y12      // xk = x − kf·step
	VMOVUPS Y12, (SI)(AX*4)
	VMULPS Y8, Y12, Y12       // xk·kf
	VADDPS Y15, Y12, Y12      // + 0
	VMOVUPS Y12, (R11)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JB loop

done:
	VZEROUPPER
	RET

// func adamKeep64AVX2(x, g, m, v []float64, keep []bool, s []float64, c *adamConsts[float64])
//
// adamKeep32AVX2 for float64, four entries at a time; len(x) is a multiple
// of 4.
TEXT ·adamKeep64AVX2(SB), NOSPLIT, $0-152
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ g_base+24(FP), DI
	MOVQ m_base+48(FP), R8
	MOVQ v_base+72(FP), R9
	MOVQ keep_base+96(FP), R10
	MOVQ s_base+120(FP), R11
	MOVQ c+144(FP), R12
	VBROADCASTSD 0(R12), Y1  // lr1
	VBROADCASTSD 8(R12), Y2  // rb2
	VBROADCASTSD 16(R12), Y3 // eps
	VBROADCASTSD 24(R12), Y4 // b1
	VBROADCASTSD 32(R12), Y5 // b2
	VBROADCASTSD 40(R12), Y6 // c1
	VBROADCASTSD 48(R12), Y7 // c2
	VXORPD Y15, Y15, Y15     // +0
	XORQ AX, AX
	TESTQ CX, CX
	JEQ done64

loop64:
	VPMOVZXBD (R10)(AX*1), X8 // keep as 0/1 integers
	VCVTDQ2PD X8, Y8          // kf
	VMOVUPD (DI)(AX*8), Y9
	VMULPD Y8, Y9, Y9         // gk = g·kf
	VMOVUPD (R8)(AX*8), Y10
	VMULPD Y4, Y10, Y10       // b1·m
	VMULPD Y6, Y9, Y11        // c1·gk
	VADDPD Y11, Y10, Y10      // mk
	VMOVUPD Y10, (R8)(AX*8)
	VMOVUPD (R9)(AX*8), Y11
	VMULPD Y5, Y11, Y11       // b2·v
	VMULPD Y7, Y9, Y12        // c2·gk
	VMULPD Y9, Y12, Y12       // (c2·gk)·gk
	VADDPD Y12, Y11, Y11      // vk
	VMOVUPD Y11, (R9)(AX*8)
	VMULPD Y2, Y11, Y11       // vk·rb2
	VSQRTPD Y11, Y11
	VADDPD Y3, Y11, Y11       // √(vk·rb2) + eps
	VMULPD Y1, Y10, Y10       // lr1·mk
	VDIVPD Y11, Y10, Y10      // lr1·mk / (√(vk·rb2) + eps)
	VMULPD Y8, Y10, Y10       // kf·step
	VMOVUPD (SI)(AX*8), Y12
	VSUBPD Y10, Y12, Y12      // xk = x − kf·step
	VMOVUPD Y12, (SI)(AX*8)
	VMULPD Y8, Y12, Y12       // xk·kf
	VADDPD Y15, Y12, Y12      // + 0
	VMOVUPD Y12, (R11)(AX*8)
	ADDQ $4, AX
	CMPQ AX, CX
	JB loop64

done64:
	VZEROUPPER
	RET

// func adam32AVX2(x, g, m, v []float32, c *adamConsts[float32])
//
// The unmasked Adam update of adamUpdate (A's and B's blocks) for float32,
// eight entries at a time; len(x) is a multiple of 8.
TEXT ·adam32AVX2(SB), NOSPLIT, $0-104
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ g_base+24(FP), DI
	MOVQ m_base+48(FP), R8
	MOVQ v_base+72(FP), R9
	MOVQ c+96(FP), R12
	VBROADCASTSS 0(R12), Y1  // lr1
	VBROADCASTSS 4(R12), Y2  // rb2
	VBROADCASTSS 8(R12), Y3  // eps
	VBROADCASTSS 12(R12), Y4 // b1
	VBROADCASTSS 16(R12), Y5 // b2
	VBROADCASTSS 20(R12), Y6 // c1
	VBROADCASTSS 24(R12), Y7 // c2
	XORQ AX, AX
	TESTQ CX, CX
	JEQ ddone

dloop:
	VMOVUPS (DI)(AX*4), Y9
	VMOVUPS (R8)(AX*4), Y10
	VMULPS Y4, Y10, Y10       // b1·m
	VMULPS Y6, Y9, Y11        // c1·g
	VADDPS Y11, Y10, Y10      // mk
	VMOVUPS Y10, (R8)(AX*4)
	VMOVUPS (R9)(AX*4), Y11
	VMULPS Y5, Y11, Y11       // b2·v
	VMULPS Y7, Y9, Y12        // c2·g
	VMULPS Y9, Y12, Y12       // (c2·g)·g
	VADDPS Y12, Y11, Y11      // vk
	VMOVUPS Y11, (R9)(AX*4)
	VMULPS Y2, Y11, Y11       // vk·rb2
	VSQRTPS Y11, Y11
	VADDPS Y3, Y11, Y11       // √(vk·rb2) + eps
	VMULPS Y1, Y10, Y10       // lr1·mk
	VDIVPS Y11, Y10, Y10      // lr1·mk / (√(vk·rb2) + eps)
	VMOVUPS (SI)(AX*4), Y12
	VSUBPS Y10, Y12, Y12      // x − step
	VMOVUPS Y12, (SI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JB dloop

ddone:
	VZEROUPPER
	RET

// func adam64AVX2(x, g, m, v []float64, c *adamConsts[float64])
//
// adam32AVX2 for float64, four entries at a time; len(x) is a multiple of 4.
TEXT ·adam64AVX2(SB), NOSPLIT, $0-104
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ g_base+24(FP), DI
	MOVQ m_base+48(FP), R8
	MOVQ v_base+72(FP), R9
	MOVQ c+96(FP), R12
	VBROADCASTSD 0(R12), Y1  // lr1
	VBROADCASTSD 8(R12), Y2  // rb2
	VBROADCASTSD 16(R12), Y3 // eps
	VBROADCASTSD 24(R12), Y4 // b1
	VBROADCASTSD 32(R12), Y5 // b2
	VBROADCASTSD 40(R12), Y6 // c1
	VBROADCASTSD 48(R12), Y7 // c2
	XORQ AX, AX
	TESTQ CX, CX
	JEQ ddone64

dloop64:
	VMOVUPD (DI)(AX*8), Y9
	VMOVUPD (R8)(AX*8), Y10
	VMULPD Y4, Y10, Y10       // b1·m
	VMULPD Y6, Y9, Y11        // c1·g
	VADDPD Y11, Y10, Y10      // mk
	VMOVUPD Y10, (R8)(AX*8)
	VMOVUPD (R9)(AX*8), Y11
	VMULPD Y5, Y11, Y11       // b2·v
	VMULPD Y7, Y9, Y12        // c2·g
	VMULPD Y9, Y12, Y12       // (c2·g)·g
	VADDPD Y12, Y11, Y11      // vk
	VMOVUPD Y11, (R9)(AX*8)
	VMULPD Y2, Y11, Y11       // vk·rb2
	VSQRTPD Y11, Y11
	VADDPD Y3, Y11, Y11       // √(vk·rb2) + eps
	VMULPD Y1, Y10, Y10       // lr1·mk
	VDIVPD Y11, Y10, Y10      // lr1·mk / (√(vk·rb2) + eps)
	VMOVUPD (SI)(AX*8), Y12
	VSUBPD Y10, Y12, Y12      // x − step
	VMOVUPD Y12, (SI)(AX*8)
	ADDQ $4, AX
	CMPQ AX, CX
	JB dloop64

ddone64:
	VZEROUPPER
	RET
