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
