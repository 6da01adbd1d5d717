#include "textflag.h"
#include "go_asm.h"

// cheb32RealAVX2: one octet s..s+7 of in and out (complex64, 64 bytes:
// Y8 = amplitudes 0-3, quad A, Y9 = 4-7, quad B) per round. Flip sums F in
// Y0/Y1 (A/B) and Y2/Y3 for alternate bits; the diagonal is formed in
// double precision and rounded; the terms added to acc (complex128, 128
// bytes per octet at byte offset R14) are widened to double first.

// D += c·S for complex128 pairs (RE: real part in every lane, IM: the
// imaginary part as (-im, +im)); S is left swapped.
#define CMADD(S, D, RE, IM) \
	VFMADD231PD RE, S, D; \
	VPERMILPD   $5, S, S; \
	VFMADD231PD IM, S, D

// WIDEN: the four complex64 of FY (low half FX) as complex128 in LO, HI.
#define WIDEN(FX, FY, LO, LOX, HI, HIX) \
	VCVTPS2PD    FX, LO; \
	VEXTRACTF128 $1, FY, HIX; \
	VCVTPS2PD    HIX, HI

// ACC: acc += c0·v + c1·x for one quad (v in VX/VY, x in XX/XY).
#define ACC(VX, VY, XX, XY, OFF) \
	WIDEN(VX, VY, Y10, X10, Y11, X11); \
	WIDEN(XX, XY, Y12, X12, Y13, X13); \
	VMOVUPD OFF(DX)(R14*1), Y14; \
	VMOVUPD OFF+32(DX)(R14*1), Y15; \
	CMADD(Y10, Y14, cheb32Consts_c0re(R9), cheb32Consts_c0im(R9)); \
	CMADD(Y11, Y15, cheb32Consts_c0re(R9), cheb32Consts_c0im(R9)); \
	CMADD(Y12, Y14, cheb32Consts_c1re(R9), cheb32Consts_c1im(R9)); \
	CMADD(Y13, Y15, cheb32Consts_c1re(R9), cheb32Consts_c1im(R9)); \
	VMOVUPD Y14, OFF(DX)(R14*1); \
	VMOVUPD Y15, OFF+32(DX)(R14*1)

// FIRST: acc = c0·acc + c1·x for one quad.
#define FIRST(XX, XY, OFF) \
	WIDEN(XX, XY, Y12, X12, Y13, X13); \
	VMOVUPD OFF(DX)(R14*1), Y10; \
	VMOVUPD OFF+32(DX)(R14*1), Y11; \
	VXORPD  Y14, Y14, Y14; \
	VXORPD  Y15, Y15, Y15; \
	CMADD(Y10, Y14, cheb32Consts_c0re(R9), cheb32Consts_c0im(R9)); \
	CMADD(Y11, Y15, cheb32Consts_c0re(R9), cheb32Consts_c0im(R9)); \
	CMADD(Y12, Y14, cheb32Consts_c1re(R9), cheb32Consts_c1im(R9)); \
	CMADD(Y13, Y15, cheb32Consts_c1re(R9), cheb32Consts_c1im(R9)); \
	VMOVUPD Y14, OFF(DX)(R14*1); \
	VMOVUPD Y15, OFF+32(DX)(R14*1)

// DIAG: DST = (inter - (Y4 + DIAGC))·scale for one quad, rounded to float32
// and duplicated for the real and imaginary parts. Temporaries Y6, Y7.
#define DIAG(IOFF, DIAGC, DST, DSTX) \
	VADDPD       DIAGC, Y4, Y7; \
	VMOVUPD      IOFF(R8)(R12*1), Y6; \
	VSUBPD       Y7, Y6, Y6; \
	VBROADCASTSD cheb32Consts_scale(R9), Y7; \
	VMULPD       Y7, Y6, Y6; \
	VCVTPD2PSY   Y6, X6; \
	VUNPCKLPS    X6, X6, DSTX; \
	VUNPCKHPS    X6, X6, X6; \
	VINSERTF128  $1, X6, DST, DST

// func cheb32RealAVX2(in, out *complex64, acc *complex128, inter *float64, lo, hi, n int, k *cheb32Consts)
TEXT ·cheb32RealAVX2(SB), NOSPLIT, $0-64
	MOVQ in+0(FP), SI
	MOVQ out+8(FP), DI
	MOVQ acc+16(FP), DX
	MOVQ inter+24(FP), R8
	MOVQ lo+32(FP), AX
	MOVQ hi+40(FP), BX
	MOVQ AX, CX
	SHLQ $3, CX
	SUBQ CX, R8 // inter points at amplitude lo's energy
	MOVQ n+48(FP), CX
	MOVQ k+56(FP), R9
	MOVQ $8, R10
	SHLQ CX, R10 // len(in) in bytes
	MOVQ cheb32Consts_mode(R9), R11
	VXORPD Y14, Y14, Y14 // mode 4: Σ in·x, in two float64 halves
	VXORPD Y15, Y15, Y15

octet:
	CMPQ AX, BX
	JGE  done
	MOVQ AX, R12
	SHLQ $3, R12 // byte offset of the octet in in, out and inter
	VMOVUPS (SI)(R12*1), Y8
	VMOVUPS 32(SI)(R12*1), Y9

	// Bits 0 and 1: F = (v1+v2, v0+v3, v3+v0, v2+v1) per quad.
	VPERMPD $0xB1, Y8, Y0
	VPERMPD $0x4E, Y8, Y4
	VADDPS  Y4, Y0, Y0
	VPERMPD $0xB1, Y9, Y1
	VPERMPD $0x4E, Y9, Y5
	VADDPS  Y5, Y1, Y1
	// Bit 2: each quad's partners are the other quad.
	VMOVAPS Y9, Y2
	VMOVAPS Y8, Y3

	// Bits 3..n-1: the partner octet at byte offset R12 ^ R13.
	MOVQ $64, R13

bits:
	CMPQ   R13, R10
	JGE    sum
	MOVQ   R12, CX
	XORQ   R13, CX
	VADDPS (SI)(CX*1), Y0, Y0
	VADDPS 32(SI)(CX*1), Y1, Y1
	SHLQ   $1, R13
	CMPQ   R13, R10
	JGE    sum
	MOVQ   R12, CX
	XORQ   R13, CX
	VADDPS (SI)(CX*1), Y2, Y2
	VADDPS 32(SI)(CX*1), Y3, Y3
	SHLQ   $1, R13
	JMP    bits

sum:
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1

	POPCNTQ      AX, CX
	VCVTSI2SDQ   CX, X4, X4
	VMULSD       cheb32Consts_det(R9), X4, X4
	VBROADCASTSD X4, Y4 // det·popcount(s)
	DIAG(0, cheb32Consts_diagA(R9), Y5, X5)
	DIAG(32, cheb32Consts_diagB(R9), Y4, X4)

	// x = d·v + drive·F
	VBROADCASTSS cheb32Consts_drive(R9), Y6
	VMULPS       Y6, Y0, Y0
	VFMADD231PS  Y5, Y8, Y0
	VMULPS       Y6, Y1, Y1
	VFMADD231PS  Y4, Y9, Y1

	MOVQ AX, R14
	SHLQ $4, R14 // byte offset of the octet in acc
	CMPQ R11, $1
	JEQ  accum
	JGT  first
	// Mode 0 (and 3 below): out only.
	VSUBPS  (DI)(R12*1), Y0, Y0
	VSUBPS  32(DI)(R12*1), Y1, Y1
	VMOVUPS Y0, (DI)(R12*1)
	VMOVUPS Y1, 32(DI)(R12*1)
	ADDQ    $8, AX
	JMP     octet

accum:
	VSUBPS  (DI)(R12*1), Y0, Y0
	VSUBPS  32(DI)(R12*1), Y1, Y1
	VMOVUPS Y0, (DI)(R12*1)
	VMOVUPS Y1, 32(DI)(R12*1)
	ACC(X8, Y8, X0, Y0, 0)
	ACC(X9, Y9, X1, Y1, 64)
	ADDQ    $8, AX
	JMP     octet

first:
	VMOVUPS Y0, (DI)(R12*1)
	VMOVUPS Y1, 32(DI)(R12*1)
	CMPQ    R11, $3
	JEQ     next // mode 3: out = x only
	JGT     dot  // mode 4: and Re⟨in, x⟩
	FIRST(X0, Y0, 0)
	FIRST(X1, Y1, 64)

next:
	ADDQ $8, AX
	JMP  octet

dot:
	VMULPS       Y8, Y0, Y10
	VMULPS       Y9, Y1, Y11
	VCVTPS2PD    X10, Y12
	VADDPD       Y12, Y14, Y14
	VEXTRACTF128 $1, Y10, X10
	VCVTPS2PD    X10, Y12
	VADDPD       Y12, Y15, Y15
	VCVTPS2PD    X11, Y12
	VADDPD       Y12, Y14, Y14
	VEXTRACTF128 $1, Y11, X11
	VCVTPS2PD    X11, Y12
	VADDPD       Y12, Y15, Y15
	ADDQ         $8, AX
	JMP          octet

done:
	CMPQ         R11, $4
	JNE          ret
	VADDPD       Y15, Y14, Y14
	VEXTRACTF128 $1, Y14, X15
	VADDPD       X15, X14, X14
	VHADDPD      X14, X14, X14
	VADDSD       cheb32Consts_dot(R9), X14, X14
	VMOVSD       X14, cheb32Consts_dot(R9)

ret:
	VZEROUPPER
	RET

// cheb32HighAVX2: the second pass of a split sweep. For every row r (the
// amplitudes r·2^k + [lo, hi), r < 2^(n-k)) and every octet in it, adds
// drive·(sum over the flips of bits k..n-1) to out, then updates acc by
// the mode as cheb32RealAVX2 does (out is then x). All rows of one column
// range are done together, so each partner octet is read once from memory
// and then found in the cache.
//
// func cheb32HighAVX2(in, out *complex64, acc *complex128, lo, hi, k, n int, kc *cheb32Consts)
TEXT ·cheb32HighAVX2(SB), NOSPLIT, $0-64
	MOVQ in+0(FP), SI
	MOVQ out+8(FP), DI
	MOVQ acc+16(FP), DX
	MOVQ n+48(FP), CX
	MOVQ $8, R10
	SHLQ CX, R10 // len(in) in bytes
	MOVQ kc+56(FP), R9
	MOVQ cheb32Consts_mode(R9), R11
	XORQ R8, R8 // first amplitude of the row

row:
	MOVQ R8, AX
	SHLQ $3, AX
	CMPQ AX, R10
	JGE  hdone
	MOVQ lo+24(FP), AX
	ADDQ R8, AX
	MOVQ hi+32(FP), BX
	ADDQ R8, BX

hoctet:
	CMPQ AX, BX
	JGE  nextrow
	MOVQ AX, R12
	SHLQ $3, R12 // byte offset of the octet in in and out
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   k+40(FP), CX
	MOVQ   $8, R13
	SHLQ   CX, R13 // bit k in bytes

hbits:
	CMPQ   R13, R10
	JGE    hsum
	MOVQ   R12, CX
	XORQ   R13, CX
	VADDPS (SI)(CX*1), Y0, Y0
	VADDPS 32(SI)(CX*1), Y1, Y1
	SHLQ   $1, R13
	CMPQ   R13, R10
	JGE    hsum
	MOVQ   R12, CX
	XORQ   R13, CX
	VADDPS (SI)(CX*1), Y2, Y2
	VADDPS 32(SI)(CX*1), Y3, Y3
	SHLQ   $1, R13
	JMP    hbits

hsum:
	VADDPS       Y2, Y0, Y2
	VADDPS       Y3, Y1, Y3
	VMOVUPS      (DI)(R12*1), Y0
	VMOVUPS      32(DI)(R12*1), Y1
	VBROADCASTSS cheb32Consts_drive(R9), Y6
	VFMADD231PS  Y6, Y2, Y0
	VFMADD231PS  Y6, Y3, Y1
	VMOVUPS      Y0, (DI)(R12*1)
	VMOVUPS      Y1, 32(DI)(R12*1)
	MOVQ         AX, R14
	SHLQ         $4, R14 // byte offset of the octet in acc
	CMPQ         R11, $1
	JEQ          haccum
	JGT          hfirst
	ADDQ         $8, AX
	JMP          hoctet

haccum:
	VMOVUPS (SI)(R12*1), Y8
	VMOVUPS 32(SI)(R12*1), Y9
	ACC(X8, Y8, X0, Y0, 0)
	ACC(X9, Y9, X1, Y1, 64)
	ADDQ    $8, AX
	JMP     hoctet

hfirst:
	FIRST(X0, Y0, 0)
	FIRST(X1, Y1, 64)
	ADDQ $8, AX
	JMP  hoctet

nextrow:
	MOVQ k+40(FP), CX
	MOVQ $1, AX
	SHLQ CX, AX
	ADDQ AX, R8
	JMP  row

hdone:
	VZEROUPPER
	RET
