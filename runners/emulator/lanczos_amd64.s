#include "textflag.h"

// The Lanczos vector passes of krylov.go on complex64 vectors seen as
// float32 arrays of n floats (n a multiple of 8), summed in float64.

// func dot32AVX2(x, y *float32, n int) float64
// Σ x_i·y_i: for complex64 vectors, Re⟨x, y⟩.
TEXT ·dot32AVX2(SB), NOSPLIT, $0-32
	MOVQ   x+0(FP), SI
	MOVQ   y+8(FP), DI
	MOVQ   n+16(FP), CX
	XORQ   AX, AX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1

dloop:
	CMPQ      AX, CX
	JGE       ddone
	VCVTPS2PD (SI)(AX*4), Y2
	VCVTPS2PD 16(SI)(AX*4), Y3
	VCVTPS2PD (DI)(AX*4), Y4
	VCVTPS2PD 16(DI)(AX*4), Y5
	VFMADD231PD Y2, Y4, Y0
	VFMADD231PD Y3, Y5, Y1
	ADDQ      $8, AX
	JMP       dloop

ddone:
	VADDPD       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VMOVSD       X0, ret+24(FP)
	VZEROUPPER
	RET

// func lanczosUpdateAVX2(out, cur, prev *float32, n int, a, c float32) float64
// out_i -= a·cur_i + c·prev_i; returns Σ out_i² (the new values).
TEXT ·lanczosUpdateAVX2(SB), NOSPLIT, $0-48
	MOVQ         out+0(FP), DI
	MOVQ         cur+8(FP), SI
	MOVQ         prev+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS a+32(FP), Y6
	VBROADCASTSS c+36(FP), Y7
	XORQ         AX, AX
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1

uloop:
	CMPQ         AX, CX
	JGE          udone
	VMOVUPS      (DI)(AX*4), Y2
	VFNMADD231PS (SI)(AX*4), Y6, Y2
	VFNMADD231PS (DX)(AX*4), Y7, Y2
	VMOVUPS      Y2, (DI)(AX*4)
	VCVTPS2PD    X2, Y3
	VEXTRACTF128 $1, Y2, X4
	VCVTPS2PD    X4, Y4
	VFMADD231PD  Y3, Y3, Y0
	VFMADD231PD  Y4, Y4, Y1
	ADDQ         $8, AX
	JMP          uloop

udone:
	VADDPD       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VMOVSD       X0, ret+40(FP)
	VZEROUPPER
	RET

// func combineAVX2(psi *complex128, basis **complex64, coef *[2][4]float64, m, lo, hi int)
// psi[i] = Σ_{j<m} c_j·basis[j][i] for i in [lo, hi) (multiples of 4),
// coef[j] = {(re c_j)×4, (−im, im, −im, im) c_j}, in complex128 arithmetic.
TEXT ·combineAVX2(SB), NOSPLIT, $0-48
	MOVQ psi+0(FP), DI
	MOVQ basis+8(FP), SI
	MOVQ coef+16(FP), DX
	MOVQ m+24(FP), CX
	MOVQ lo+32(FP), AX
	MOVQ hi+40(FP), BX

cquad:
	CMPQ   AX, BX
	JGE    cdone
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	XORQ   R8, R8 // j
	MOVQ   DX, R10

cterm:
	CMPQ         R8, CX
	JGE          cstore
	MOVQ         (SI)(R8*8), R9
	VCVTPS2PD    (R9)(AX*8), Y2   // amplitudes i, i+1
	VCVTPS2PD    16(R9)(AX*8), Y3 // i+2, i+3
	VMOVUPD      (R10), Y4
	VMOVUPD      32(R10), Y5
	VFMADD231PD  Y4, Y2, Y0
	VFMADD231PD  Y4, Y3, Y1
	VPERMILPD    $5, Y2, Y2
	VPERMILPD    $5, Y3, Y3
	VFMADD231PD  Y5, Y2, Y0
	VFMADD231PD  Y5, Y3, Y1
	ADDQ         $64, R10
	INCQ         R8
	JMP          cterm

cstore:
	MOVQ    AX, R11
	SHLQ    $4, R11
	VMOVUPD Y0, (DI)(R11*1)
	VMOVUPD Y1, 32(DI)(R11*1)
	ADDQ    $4, AX
	JMP     cquad

cdone:
	VZEROUPPER
	RET

// func lanczosUpdate128AVX2(out, cur, prev *float64, n int, a, c float64) float64
// lanczosUpdateAVX2 on float64 arrays (complex128 vectors), n a multiple of 4.
TEXT ·lanczosUpdate128AVX2(SB), NOSPLIT, $0-56
	MOVQ         out+0(FP), DI
	MOVQ         cur+8(FP), SI
	MOVQ         prev+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD a+32(FP), Y6
	VBROADCASTSD c+40(FP), Y7
	XORQ         AX, AX
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1

u2loop:
	CMPQ         AX, CX
	JGE          u2done
	VMOVUPD      (DI)(AX*8), Y2
	VFNMADD231PD (SI)(AX*8), Y6, Y2
	VFNMADD231PD (DX)(AX*8), Y7, Y2
	VMOVUPD      Y2, (DI)(AX*8)
	VFMADD231PD  Y2, Y2, Y0
	ADDQ         $4, AX
	JMP          u2loop

u2done:
	VADDPD       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VMOVSD       X0, ret+48(FP)
	VZEROUPPER
	RET

// func combine128AVX2(psi *complex128, basis **complex128, coef *[2][4]float64, m, lo, hi int)
// combineAVX2 with complex128 basis vectors; basis[0] may be psi itself
// (each amplitude is read from every vector before it is written).
TEXT ·combine128AVX2(SB), NOSPLIT, $0-48
	MOVQ psi+0(FP), DI
	MOVQ basis+8(FP), SI
	MOVQ coef+16(FP), DX
	MOVQ m+24(FP), CX
	MOVQ lo+32(FP), AX
	MOVQ hi+40(FP), BX

c2quad:
	CMPQ   AX, BX
	JGE    c2done
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	XORQ   R8, R8
	MOVQ   DX, R10
	MOVQ   AX, R11
	SHLQ   $4, R11 // byte offset of amplitude AX

c2term:
	CMPQ        R8, CX
	JGE         c2store
	MOVQ        (SI)(R8*8), R9
	VMOVUPD     (R9)(R11*1), Y2
	VMOVUPD     32(R9)(R11*1), Y3
	VMOVUPD     (R10), Y4
	VMOVUPD     32(R10), Y5
	VFMADD231PD Y4, Y2, Y0
	VFMADD231PD Y4, Y3, Y1
	VPERMILPD   $5, Y2, Y2
	VPERMILPD   $5, Y3, Y3
	VFMADD231PD Y5, Y2, Y0
	VFMADD231PD Y5, Y3, Y1
	ADDQ        $64, R10
	INCQ        R8
	JMP         c2term

c2store:
	VMOVUPD Y0, (DI)(R11*1)
	VMOVUPD Y1, 32(DI)(R11*1)
	ADDQ    $4, AX
	JMP     c2quad

c2done:
	VZEROUPPER
	RET
