#include "textflag.h"

// The Lanczos vector passes of krylov.go: sums in float64 over complex64
// vectors seen as float32 arrays of n floats (n a multiple of 8), or over
// complex128 vectors seen as float64 arrays (n a multiple of 4).

// HSUM stores the sum of the lanes of Y0 and Y1 at DST and returns.
#define HSUM(DST) \
	VADDPD       Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPD       X1, X0, X0; \
	VHADDPD      X0, X0, X0; \
	VMOVSD       X0, DST; \
	VZEROUPPER; \
	RET

// The combination psi[i] = Σ_{j<m} c_j·basis[j][i] over [lo, hi)
// (multiples of 4) in complex128 arithmetic, coef[j] = {(re c_j)×4,
// (−im, im, −im, im) c_j}: four amplitudes per round, in Y0 and Y1, the
// basis vectors' four amplitudes loaded into Y2, Y3 by LOAD from R9 (the
// vector) at amplitude AX (R11 = its byte offset in complex128).
#define COMBINE(LOAD) \
	MOVQ psi+0(FP), DI; \
	MOVQ basis+8(FP), SI; \
	MOVQ coef+16(FP), DX; \
	MOVQ m+24(FP), CX; \
	MOVQ lo+32(FP), AX; \
	MOVQ hi+40(FP), BX; \
quad: \
	CMPQ   AX, BX; \
	JGE    done; \
	VXORPD Y0, Y0, Y0; \
	VXORPD Y1, Y1, Y1; \
	XORQ   R8, R8; \
	MOVQ   DX, R10; \
	MOVQ   AX, R11; \
	SHLQ   $4, R11; \
term: \
	CMPQ        R8, CX; \
	JGE         store; \
	MOVQ        (SI)(R8*8), R9; \
	LOAD; \
	VMOVUPD     (R10), Y4; \
	VMOVUPD     32(R10), Y5; \
	VFMADD231PD Y4, Y2, Y0; \
	VFMADD231PD Y4, Y3, Y1; \
	VPERMILPD   $5, Y2, Y2; \
	VPERMILPD   $5, Y3, Y3; \
	VFMADD231PD Y5, Y2, Y0; \
	VFMADD231PD Y5, Y3, Y1; \
	ADDQ        $64, R10; \
	INCQ        R8; \
	JMP         term; \
store: \
	VMOVUPD Y0, (DI)(R11*1); \
	VMOVUPD Y1, 32(DI)(R11*1); \
	ADDQ    $4, AX; \
	JMP     quad; \
done: \
	VZEROUPPER; \
	RET

// LOAD64 widens four complex64 amplitudes; LOAD128 loads four complex128.
#define LOAD64 VCVTPS2PD (R9)(AX*8), Y2; VCVTPS2PD 16(R9)(AX*8), Y3
#define LOAD128 VMOVUPD (R9)(R11*1), Y2; VMOVUPD 32(R9)(R11*1), Y3

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
	CMPQ        AX, CX
	JGE         ddone
	VCVTPS2PD   (SI)(AX*4), Y2
	VCVTPS2PD   16(SI)(AX*4), Y3
	VCVTPS2PD   (DI)(AX*4), Y4
	VCVTPS2PD   16(DI)(AX*4), Y5
	VFMADD231PD Y2, Y4, Y0
	VFMADD231PD Y3, Y5, Y1
	ADDQ        $8, AX
	JMP         dloop

ddone:
	HSUM(ret+24(FP))

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
	HSUM(ret+40(FP))

// func lanczosUpdate128AVX2(out, cur, prev *float64, n int, a, c float64) float64
// lanczosUpdateAVX2 on float64 arrays (complex128 vectors), n a multiple of
// 8: two quads per round, one per accumulator.
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
	VMOVUPD      32(DI)(AX*8), Y3
	VFNMADD231PD (SI)(AX*8), Y6, Y2
	VFNMADD231PD 32(SI)(AX*8), Y6, Y3
	VFNMADD231PD (DX)(AX*8), Y7, Y2
	VFNMADD231PD 32(DX)(AX*8), Y7, Y3
	VMOVUPD      Y2, (DI)(AX*8)
	VMOVUPD      Y3, 32(DI)(AX*8)
	VFMADD231PD  Y2, Y2, Y0
	VFMADD231PD  Y3, Y3, Y1
	ADDQ         $8, AX
	JMP          u2loop

u2done:
	HSUM(ret+48(FP))

// func combineAVX2(psi *complex128, basis **complex64, coef *[2][4]float64, m, lo, hi int)
TEXT ·combineAVX2(SB), NOSPLIT, $0-48
	COMBINE(LOAD64)

// func combine128AVX2(psi *complex128, basis **complex128, coef *[2][4]float64, m, lo, hi int)
// basis[0] may be psi itself: each amplitude is read from every vector
// before it is written.
TEXT ·combine128AVX2(SB), NOSPLIT, $0-48
	COMBINE(LOAD128)
