#include "textflag.h"

// func caxpyAVX2(y, x *complex128, n int, re, im *[4]float64)
// Four complex128 per round (two ymm registers), then two, then one.
TEXT ·caxpyAVX2(SB), NOSPLIT, $0-40
	MOVQ    y+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    n+16(FP), CX
	MOVQ    re+24(FP), AX
	MOVQ    im+32(FP), BX
	VMOVUPD (AX), Y0
	VMOVUPD (BX), Y1
	SHLQ    $4, CX
	XORQ    R8, R8

loop4:
	LEAQ        64(R8), R9
	CMPQ        R9, CX
	JGT         tail2
	VMOVUPD     (SI)(R8*1), Y2
	VMOVUPD     32(SI)(R8*1), Y3
	VMOVUPD     (DI)(R8*1), Y4
	VMOVUPD     32(DI)(R8*1), Y5
	VFMADD231PD Y0, Y2, Y4
	VFMADD231PD Y0, Y3, Y5
	VPERMILPD   $5, Y2, Y2
	VPERMILPD   $5, Y3, Y3
	VFMADD231PD Y1, Y2, Y4
	VFMADD231PD Y1, Y3, Y5
	VMOVUPD     Y4, (DI)(R8*1)
	VMOVUPD     Y5, 32(DI)(R8*1)
	MOVQ        R9, R8
	JMP         loop4

tail2:
	LEAQ        32(R8), R9
	CMPQ        R9, CX
	JGT         tail1
	VMOVUPD     (SI)(R8*1), Y2
	VMOVUPD     (DI)(R8*1), Y4
	VFMADD231PD Y0, Y2, Y4
	VPERMILPD   $5, Y2, Y2
	VFMADD231PD Y1, Y2, Y4
	VMOVUPD     Y4, (DI)(R8*1)
	MOVQ        R9, R8

tail1:
	CMPQ        R8, CX
	JGE         done
	VMOVUPD     (SI)(R8*1), X2
	VMOVUPD     (DI)(R8*1), X4
	VFMADD231PD X0, X2, X4
	VPERMILPD   $1, X2, X2
	VFMADD231PD X1, X2, X4
	VMOVUPD     X4, (DI)(R8*1)

done:
	VZEROUPPER
	RET

// func cgemm2x4AVX2(a0, a1, b *complex128, ldb, k int, c0, c1 *complex128)
// c0[0:4] += Σ_p a0[p]·b[p·ldb : p·ldb+4], and c1 likewise with a1: a 2×4
// block of C = A·B accumulated in registers over p. Per row and pair of
// columns two accumulators: R += Re a·b and I += Im a·swap(b); at the end
// C += addsub(R, I), i.e. (Re a·br − Im a·bi, Re a·bi + Im a·br).
TEXT ·cgemm2x4AVX2(SB), NOSPLIT, $0-56
	MOVQ   a0+0(FP), SI
	MOVQ   a1+8(FP), DI
	MOVQ   b+16(FP), BX
	MOVQ   ldb+24(FP), DX
	SHLQ   $4, DX
	MOVQ   k+32(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	TESTQ  CX, CX
	JEQ    store

gemmloop:
	VMOVUPD      (BX), Y8
	VMOVUPD      32(BX), Y9
	VPERMILPD    $5, Y8, Y10
	VPERMILPD    $5, Y9, Y11
	VBROADCASTSD (SI), Y12
	VBROADCASTSD 8(SI), Y13
	VBROADCASTSD (DI), Y14
	VBROADCASTSD 8(DI), Y15
	VFMADD231PD  Y12, Y8, Y0
	VFMADD231PD  Y12, Y9, Y1
	VFMADD231PD  Y13, Y10, Y2
	VFMADD231PD  Y13, Y11, Y3
	VFMADD231PD  Y14, Y8, Y4
	VFMADD231PD  Y14, Y9, Y5
	VFMADD231PD  Y15, Y10, Y6
	VFMADD231PD  Y15, Y11, Y7
	ADDQ         $16, SI
	ADDQ         $16, DI
	ADDQ         DX, BX
	DECQ         CX
	JNE          gemmloop

store:
	MOVQ      c0+40(FP), SI
	MOVQ      c1+48(FP), DI
	VADDSUBPD Y2, Y0, Y0
	VADDSUBPD Y3, Y1, Y1
	VADDSUBPD Y6, Y4, Y4
	VADDSUBPD Y7, Y5, Y5
	VADDPD    (SI), Y0, Y0
	VADDPD    32(SI), Y1, Y1
	VADDPD    (DI), Y4, Y4
	VADDPD    32(DI), Y5, Y5
	VMOVUPD   Y0, (SI)
	VMOVUPD   Y1, 32(SI)
	VMOVUPD   Y4, (DI)
	VMOVUPD   Y5, 32(DI)
	VZEROUPPER
	RET

// func cdotAVX2(x, y *complex128, n int, acc *[8]float64)
// acc[0:4] = Σ lanes of x·y (xr·yr, xi·yi, …), acc[4:8] = Σ lanes of
// x·swap(y) (xr·yi, xi·yr, …); n must be even. The caller reduces:
// x†y = Σacc[0:4] + i·(acc[4]−acc[5]+acc[6]−acc[7]).
TEXT ·cdotAVX2(SB), NOSPLIT, $0-32
	MOVQ   x+0(FP), SI
	MOVQ   y+8(FP), DI
	MOVQ   n+16(FP), CX
	MOVQ   acc+24(FP), AX
	SHLQ   $4, CX
	XORQ   R8, R8
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

dotloop4:
	LEAQ        64(R8), R9
	CMPQ        R9, CX
	JGT         dottail
	VMOVUPD     (SI)(R8*1), Y4
	VMOVUPD     32(SI)(R8*1), Y5
	VMOVUPD     (DI)(R8*1), Y6
	VMOVUPD     32(DI)(R8*1), Y7
	VFMADD231PD Y4, Y6, Y0
	VFMADD231PD Y5, Y7, Y1
	VPERMILPD   $5, Y6, Y6
	VPERMILPD   $5, Y7, Y7
	VFMADD231PD Y4, Y6, Y2
	VFMADD231PD Y5, Y7, Y3
	MOVQ        R9, R8
	JMP         dotloop4

dottail:
	CMPQ        R8, CX
	JGE         dotdone
	VMOVUPD     (SI)(R8*1), Y4
	VMOVUPD     (DI)(R8*1), Y6
	VFMADD231PD Y4, Y6, Y0
	VPERMILPD   $5, Y6, Y6
	VFMADD231PD Y4, Y6, Y2

dotdone:
	VADDPD  Y1, Y0, Y0
	VADDPD  Y3, Y2, Y2
	VMOVUPD Y0, (AX)
	VMOVUPD Y2, 32(AX)
	VZEROUPPER
	RET

// func crotAVX2(x, y *complex128, n int, k *[4][4]float64)
// With ey = e·y: x ← c·x − s·ey, y ← s·x + c·ey, for an even n. k holds
// c, s, Re e in every lane and (−Im e, +Im e, …).
TEXT ·crotAVX2(SB), NOSPLIT, $0-32
	MOVQ    x+0(FP), SI
	MOVQ    y+8(FP), DI
	MOVQ    n+16(FP), CX
	MOVQ    k+24(FP), AX
	VMOVUPD (AX), Y12
	VMOVUPD 32(AX), Y13
	VMOVUPD 64(AX), Y14
	VMOVUPD 96(AX), Y15
	SHLQ    $4, CX
	XORQ    R8, R8

rotloop:
	CMPQ         R8, CX
	JGE          rotdone
	VMOVUPD      (SI)(R8*1), Y0
	VMOVUPD      (DI)(R8*1), Y1
	VMULPD       Y14, Y1, Y2
	VPERMILPD    $5, Y1, Y1
	VFMADD231PD  Y15, Y1, Y2
	VMULPD       Y12, Y0, Y3
	VFNMADD231PD Y13, Y2, Y3
	VMULPD       Y13, Y0, Y4
	VFMADD231PD  Y12, Y2, Y4
	VMOVUPD      Y3, (SI)(R8*1)
	VMOVUPD      Y4, (DI)(R8*1)
	ADDQ         $32, R8
	JMP          rotloop

rotdone:
	VZEROUPPER
	RET
