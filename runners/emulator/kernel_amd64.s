#include "textflag.h"
#include "go_asm.h"

// One quad s..s+3 of chebReal per round. Two complex128 per ymm register:
// Y0 = (v0, v1), Y1 = (v2, v3). The flip sums run in four pairs of
// accumulators (Y2/Y3, Y4/Y5, Y6/Y7, Y8/Y9), one pair per bit of four, so
// that the adds do not wait on each other. Constants: Y10 drive·scale,
// Y11/Y12 c1, Y13/Y14 c0 (real part in every lane; imaginary part as
// (-im, +im) pairs, to multiply the (im, re)-swapped amplitude).
//
// func chebRealAVX2(in, out, acc *complex128, inter *float64, lo, hi, n int, k *chebConsts)
TEXT ·chebRealAVX2(SB), NOSPLIT, $0-64
	MOVQ in+0(FP), SI
	MOVQ out+8(FP), DI
	MOVQ acc+16(FP), DX
	MOVQ inter+24(FP), R8
	MOVQ lo+32(FP), AX
	MOVQ hi+40(FP), BX
	MOVQ n+48(FP), CX
	MOVQ k+56(FP), R9
	MOVQ $16, R10
	SHLQ CX, R10 // len(in) in bytes: the highest bit's offset is R10/2
	MOVQ chebConsts_first(R9), R11
	VBROADCASTSD chebConsts_drive(R9), Y10
	VMOVUPD chebConsts_c1re(R9), Y11
	VMOVUPD chebConsts_c1im(R9), Y12
	VMOVUPD chebConsts_c0re(R9), Y13
	VMOVUPD chebConsts_c0im(R9), Y14

quad:
	CMPQ AX, BX
	JGE  done
	MOVQ AX, R12
	SHLQ $4, R12                 // byte offset of the quad
	VMOVUPD (SI)(R12*1), Y0
	VMOVUPD 32(SI)(R12*1), Y1

	// Bits 0 and 1: f0 = f3 = v1+v2, f1 = f2 = v0+v3.
	VPERM2F128 $1, Y1, Y1, Y3    // (v3, v2)
	VADDPD     Y3, Y0, Y3        // (v0+v3, v1+v2) = (f2, f3)
	VPERM2F128 $1, Y3, Y3, Y2    // (f0, f1)
	VXORPD     Y4, Y4, Y4
	VXORPD     Y5, Y5, Y5
	VXORPD     Y6, Y6, Y6
	VXORPD     Y7, Y7, Y7
	VXORPD     Y8, Y8, Y8
	VXORPD     Y9, Y9, Y9

	// Bits 2..n-1: the partner quad starts at byte offset R12 ^ R13.
	MOVQ $64, R13

bits:
	CMPQ   R13, R10
	JGE    sum
	MOVQ   R12, CX
	XORQ   R13, CX
	VADDPD (SI)(CX*1), Y2, Y2
	VADDPD 32(SI)(CX*1), Y3, Y3
	SHLQ   $1, R13
	CMPQ   R13, R10
	JGE    sum
	MOVQ   R12, CX
	XORQ   R13, CX
	VADDPD (SI)(CX*1), Y4, Y4
	VADDPD 32(SI)(CX*1), Y5, Y5
	SHLQ   $1, R13
	CMPQ   R13, R10
	JGE    sum
	MOVQ   R12, CX
	XORQ   R13, CX
	VADDPD (SI)(CX*1), Y6, Y6
	VADDPD 32(SI)(CX*1), Y7, Y7
	SHLQ   $1, R13
	CMPQ   R13, R10
	JGE    sum
	MOVQ   R12, CX
	XORQ   R13, CX
	VADDPD (SI)(CX*1), Y8, Y8
	VADDPD 32(SI)(CX*1), Y9, Y9
	SHLQ   $1, R13
	JMP    bits

sum:
	VADDPD Y4, Y2, Y2
	VADDPD Y5, Y3, Y3
	VADDPD Y8, Y6, Y6
	VADDPD Y9, Y7, Y7
	VADDPD Y6, Y2, Y2 // (f0, f1)
	VADDPD Y7, Y3, Y3 // (f2, f3)

	// Diagonal: ((inter - det·popcount(s) - (center + det·(0,1,1,2)))·scale.
	POPCNTQ      AX, CX
	VCVTSI2SDQ   CX, X4, X4
	VMULSD       chebConsts_det(R9), X4, X4
	VBROADCASTSD X4, Y4
	VADDPD       chebConsts_diag(R9), Y4, Y4
	VMOVUPD      (R8)(AX*8), Y5
	VSUBPD       Y4, Y5, Y5
	VBROADCASTSD chebConsts_scale(R9), Y4
	VMULPD       Y4, Y5, Y5      // (d0, d1, d2, d3)
	VPERMPD      $0x50, Y5, Y6   // (d0, d0, d1, d1)
	VPERMPD      $0xFA, Y5, Y7   // (d2, d2, d3, d3)

	// x = d·v + drive·f
	VMULPD      Y10, Y2, Y2
	VFMADD231PD Y6, Y0, Y2
	VMULPD      Y10, Y3, Y3
	VFMADD231PD Y7, Y1, Y3
	TESTQ       R11, R11
	JNZ         first

	// out = x - out; acc += c1·out
	VMOVUPD     (DI)(R12*1), Y4
	VMOVUPD     32(DI)(R12*1), Y5
	VSUBPD      Y4, Y2, Y2
	VSUBPD      Y5, Y3, Y3
	VMOVUPD     Y2, (DI)(R12*1)
	VMOVUPD     Y3, 32(DI)(R12*1)
	VMOVUPD     (DX)(R12*1), Y4
	VMOVUPD     32(DX)(R12*1), Y5
	VFMADD231PD Y11, Y2, Y4
	VFMADD231PD Y11, Y3, Y5
	VPERMILPD   $5, Y2, Y2
	VPERMILPD   $5, Y3, Y3
	VFMADD231PD Y12, Y2, Y4
	VFMADD231PD Y12, Y3, Y5
	VMOVUPD     Y4, (DX)(R12*1)
	VMOVUPD     Y5, 32(DX)(R12*1)
	ADDQ        $4, AX
	JMP         quad

first:
	// out = x; acc = c0·v + c1·x
	VMOVUPD     Y2, (DI)(R12*1)
	VMOVUPD     Y3, 32(DI)(R12*1)
	VMULPD      Y13, Y0, Y4
	VMULPD      Y13, Y1, Y5
	VPERMILPD   $5, Y0, Y0
	VPERMILPD   $5, Y1, Y1
	VFMADD231PD Y14, Y0, Y4
	VFMADD231PD Y14, Y1, Y5
	VFMADD231PD Y11, Y2, Y4
	VFMADD231PD Y11, Y3, Y5
	VPERMILPD   $5, Y2, Y2
	VPERMILPD   $5, Y3, Y3
	VFMADD231PD Y12, Y2, Y4
	VFMADD231PD Y12, Y3, Y5
	VMOVUPD     Y4, (DX)(R12*1)
	VMOVUPD     Y5, 32(DX)(R12*1)
	ADDQ        $4, AX
	JMP         quad

done:
	VZEROUPPER
	RET

// quadFlips with one complex128 per ADDPD, same order of additions.
//
// func quadFlipsSSE2(in *complex128, s, n int, f0, f1 complex128) (r0, r1, r2, r3 complex128)
TEXT ·quadFlipsSSE2(SB), NOSPLIT, $0-120
	MOVQ   in+0(FP), SI
	MOVQ   s+8(FP), AX
	MOVQ   n+16(FP), CX
	MOVSD  f0_real+24(FP), X0
	MOVHPD f0_imag+32(FP), X0
	MOVSD  f1_real+40(FP), X1
	MOVHPD f1_imag+48(FP), X1
	MOVAPD X1, X2
	MOVAPD X0, X3
	SHLQ   $4, AX
	MOVQ   $16, R10
	SHLQ   CX, R10
	MOVQ   $64, R13

loop:
	CMPQ   R13, R10
	JGE    ret
	MOVQ   AX, DX
	XORQ   R13, DX
	MOVUPD (SI)(DX*1), X4
	MOVUPD 16(SI)(DX*1), X5
	MOVUPD 32(SI)(DX*1), X6
	MOVUPD 48(SI)(DX*1), X7
	ADDPD  X4, X0
	ADDPD  X5, X1
	ADDPD  X6, X2
	ADDPD  X7, X3
	SHLQ   $1, R13
	JMP    loop

ret:
	MOVSD  X0, r0_real+56(FP)
	MOVHPD X0, r0_imag+64(FP)
	MOVSD  X1, r1_real+72(FP)
	MOVHPD X1, r1_imag+80(FP)
	MOVSD  X2, r2_real+88(FP)
	MOVHPD X2, r2_imag+96(FP)
	MOVSD  X3, r3_real+104(FP)
	MOVHPD X3, r3_imag+112(FP)
	RET
