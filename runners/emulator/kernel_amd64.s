#include "textflag.h"
#include "go_asm.h"

// One octet s..s+7 (two quads, A and B) of chebReal per round, two
// complex128 per ymm register: V = (Y8, Y9) for A, (Y10, Y11) for B. The
// flips of bits 0 and 1 stay in each quad, bit 2 swaps the quads, and for
// every higher bit the partner octet is contiguous. The flip sums F run in
// two sets of accumulators, Y0-Y3 (A: Y0/Y1, B: Y2/Y3) and Y4-Y7, for
// alternate bits. Constants: Y12 drive·scale, Y13/Y14 c1 (real part in
// every lane; imaginary part as (-im, +im) pairs, to multiply the
// (im, re)-swapped amplitude).

// X sets F to x = d·v + drive·f for one quad: d = (inter - base - diag)·scale
// with Y4 = det·popcount(s) in every lane and diag the quad's constants.
// Temporaries Y5, Y6.
#define X(F01, F23, V01, V23, IOFF, DIAG) \
	VADDPD       DIAG(R9), Y4, Y5; \
	VMOVUPD      IOFF(R8)(AX*8), Y6; \
	VSUBPD       Y5, Y6, Y6; \
	VBROADCASTSD chebConsts_scale(R9), Y5; \
	VMULPD       Y5, Y6, Y6; \
	VPERMPD      $0x50, Y6, Y5; \
	VPERMPD      $0xFA, Y6, Y6; \
	VMULPD       Y12, F01, F01; \
	VFMADD231PD  Y5, V01, F01; \
	VMULPD       Y12, F23, F23; \
	VFMADD231PD  Y6, V23, F23

// OUT: out = x - out (F keeps the new out).
#define OUT(F01, F23, OFF) \
	VMOVUPD OFF(DI)(R12*1), Y5; \
	VMOVUPD OFF+32(DI)(R12*1), Y6; \
	VSUBPD  Y5, F01, F01; \
	VSUBPD  Y6, F23, F23; \
	VMOVUPD F01, OFF(DI)(R12*1); \
	VMOVUPD F23, OFF+32(DI)(R12*1)

// TERMS: (Y5, Y6) += c0·v + c1·F, then stored to acc. Clobbers F and V.
#define TERMS(F01, F23, V01, V23, OFF) \
	VFMADD231PD chebConsts_c0re(R9), V01, Y5; \
	VFMADD231PD chebConsts_c0re(R9), V23, Y6; \
	VPERMILPD   $5, V01, V01; \
	VPERMILPD   $5, V23, V23; \
	VFMADD231PD chebConsts_c0im(R9), V01, Y5; \
	VFMADD231PD chebConsts_c0im(R9), V23, Y6; \
	VFMADD231PD Y13, F01, Y5; \
	VFMADD231PD Y13, F23, Y6; \
	VPERMILPD   $5, F01, F01; \
	VPERMILPD   $5, F23, F23; \
	VFMADD231PD Y14, F01, Y5; \
	VFMADD231PD Y14, F23, Y6; \
	VMOVUPD     Y5, OFF(DX)(R12*1); \
	VMOVUPD     Y6, OFF+32(DX)(R12*1)

// ACC: acc += c0·v + c1·F.
#define ACC(F01, F23, V01, V23, OFF) \
	VMOVUPD OFF(DX)(R12*1), Y5; \
	VMOVUPD OFF+32(DX)(R12*1), Y6; \
	TERMS(F01, F23, V01, V23, OFF)

// FIRST: out = x; acc = c0·v + c1·x.
#define FIRST(F01, F23, V01, V23, OFF) \
	VMOVUPD F01, OFF(DI)(R12*1); \
	VMOVUPD F23, OFF+32(DI)(R12*1); \
	VXORPD  Y5, Y5, Y5; \
	VXORPD  Y6, Y6, Y6; \
	TERMS(F01, F23, V01, V23, OFF)

// One partner octet at byte offset R12 ^ R13 into accumulators a-d.
#define PARTNER(a, b, c, d) \
	MOVQ   R12, CX; \
	XORQ   R13, CX; \
	VADDPD (SI)(CX*1), a, a; \
	VADDPD 32(SI)(CX*1), b, b; \
	VADDPD 64(SI)(CX*1), c, c; \
	VADDPD 96(SI)(CX*1), d, d; \
	SHLQ   $1, R13

// func chebRealAVX2(in, out, acc *complex128, inter *float64, lo, hi, n int, k *chebConsts)
TEXT ·chebRealAVX2(SB), NOSPLIT, $0-64
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
	MOVQ $16, R10
	SHLQ CX, R10 // len(in) in bytes: the highest bit's offset is R10/2
	MOVQ chebConsts_mode(R9), R11
	VBROADCASTSD chebConsts_drive(R9), Y12
	VMOVUPD chebConsts_c1re(R9), Y13
	VMOVUPD chebConsts_c1im(R9), Y14
	CMPQ    R11, $4
	JNE     octet
	VXORPD  Y13, Y13, Y13 // mode 4 needs no c1: Re⟨in, x⟩ in two halves
	VXORPD  Y14, Y14, Y14

octet:
	CMPQ AX, BX
	JGE  done
	MOVQ AX, R12
	SHLQ $4, R12                 // byte offset of the octet
	VMOVUPD (SI)(R12*1), Y8
	VMOVUPD 32(SI)(R12*1), Y9
	VMOVUPD 64(SI)(R12*1), Y10
	VMOVUPD 96(SI)(R12*1), Y11

	// Bits 0 and 1: f0 = f3 = v1+v2, f1 = f2 = v0+v3 (and the same in B).
	VPERM2F128 $1, Y9, Y9, Y1    // (v3, v2)
	VADDPD     Y1, Y8, Y1        // (v0+v3, v1+v2) = (f2, f3)
	VPERM2F128 $1, Y1, Y1, Y0    // (f0, f1)
	VPERM2F128 $1, Y11, Y11, Y3
	VADDPD     Y3, Y10, Y3
	VPERM2F128 $1, Y3, Y3, Y2
	// Bit 2: each quad's partners are the other quad.
	VMOVAPD    Y10, Y4
	VMOVAPD    Y11, Y5
	VMOVAPD    Y8, Y6
	VMOVAPD    Y9, Y7

	// Bits 3..n-1.
	MOVQ $128, R13

bits:
	CMPQ R13, R10
	JGE  sum
	PARTNER(Y0, Y1, Y2, Y3)
	CMPQ R13, R10
	JGE  sum
	PARTNER(Y4, Y5, Y6, Y7)
	JMP  bits

sum:
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3

	POPCNTQ      AX, CX
	VCVTSI2SDQ   CX, X4, X4
	VMULSD       chebConsts_det(R9), X4, X4
	VBROADCASTSD X4, Y4
	X(Y0, Y1, Y8, Y9, 0, chebConsts_diag)
	X(Y2, Y3, Y10, Y11, 32, chebConsts_diagB)
	// R11 = chebConsts.mode: 0 writes out only, 1 also adds to acc, 2 is
	// the first step (out = x, acc set).
	CMPQ R11, $1
	JEQ  accum
	JGT  first
	OUT(Y0, Y1, 0)
	OUT(Y2, Y3, 64)
	ADDQ $8, AX
	JMP  octet

accum:
	OUT(Y0, Y1, 0)
	OUT(Y2, Y3, 64)
	ACC(Y0, Y1, Y8, Y9, 0)
	ACC(Y2, Y3, Y10, Y11, 64)
	ADDQ $8, AX
	JMP  octet

first:
	CMPQ R11, $3
	JEQ  firstout
	JGT  firstdot
	FIRST(Y0, Y1, Y8, Y9, 0)
	FIRST(Y2, Y3, Y10, Y11, 64)
	ADDQ $8, AX
	JMP  octet

firstout: // mode 3: out = x only
	VMOVUPD Y0, (DI)(R12*1)
	VMOVUPD Y1, 32(DI)(R12*1)
	VMOVUPD Y2, 64(DI)(R12*1)
	VMOVUPD Y3, 96(DI)(R12*1)
	ADDQ    $8, AX
	JMP     octet

firstdot: // mode 4: out = x, and Re⟨in, x⟩ added up
	VMOVUPD     Y0, (DI)(R12*1)
	VMOVUPD     Y1, 32(DI)(R12*1)
	VMOVUPD     Y2, 64(DI)(R12*1)
	VMOVUPD     Y3, 96(DI)(R12*1)
	VFMADD231PD Y0, Y8, Y13
	VFMADD231PD Y1, Y9, Y14
	VFMADD231PD Y2, Y10, Y13
	VFMADD231PD Y3, Y11, Y14
	ADDQ        $8, AX
	JMP         octet

done:
	CMPQ         R11, $4
	JNE          ret
	VADDPD       Y14, Y13, Y13
	VEXTRACTF128 $1, Y13, X14
	VADDPD       X14, X13, X13
	VHADDPD      X13, X13, X13
	VADDSD       chebConsts_dot(R9), X13, X13
	VMOVSD       X13, chebConsts_dot(R9)

ret:
	VZEROUPPER
	RET

// chebHighAVX2: the second pass of a split sweep (chebSplit). For every
// row r (the amplitudes r·2^k + [lo, hi), r < 2^(n-k)) and every octet in
// it, adds drive·(sum over the flips of bits k..n-1) to out, then updates
// acc by the mode as chebRealAVX2 does (out is then x). All rows of one
// column range are done together, so each partner octet is read once from
// memory and then found in the cache. Flip sums in Y0-Y3 and Y4-Y7 for
// alternate bits.
//
// func chebHighAVX2(in, out, acc *complex128, lo, hi, k, n int, kc *chebConsts)
TEXT ·chebHighAVX2(SB), NOSPLIT, $0-64
	MOVQ in+0(FP), SI
	MOVQ out+8(FP), DI
	MOVQ acc+16(FP), DX
	MOVQ n+48(FP), CX
	MOVQ $16, R10
	SHLQ CX, R10 // len(in) in bytes
	MOVQ kc+56(FP), R9
	MOVQ chebConsts_mode(R9), R11
	VBROADCASTSD chebConsts_drive(R9), Y12
	VMOVUPD chebConsts_c1re(R9), Y13
	VMOVUPD chebConsts_c1im(R9), Y14
	XORQ R8, R8 // first amplitude of the row

hrow:
	MOVQ R8, AX
	SHLQ $4, AX
	CMPQ AX, R10
	JGE  hdone
	MOVQ lo+24(FP), AX
	ADDQ R8, AX
	MOVQ hi+32(FP), BX
	ADDQ R8, BX

hoctet:
	CMPQ   AX, BX
	JGE    hnextrow
	MOVQ   AX, R12
	SHLQ   $4, R12 // byte offset of the octet
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	MOVQ   k+40(FP), CX
	MOVQ   $16, R13
	SHLQ   CX, R13 // bit k in bytes

hbits:
	CMPQ R13, R10
	JGE  hsum
	PARTNER(Y0, Y1, Y2, Y3)
	CMPQ R13, R10
	JGE  hsum
	PARTNER(Y4, Y5, Y6, Y7)
	JMP  hbits

hsum:
	VADDPD      Y4, Y0, Y0
	VADDPD      Y5, Y1, Y1
	VADDPD      Y6, Y2, Y2
	VADDPD      Y7, Y3, Y3
	VFMADD213PD (DI)(R12*1), Y12, Y0 // x = drive·F + out
	VFMADD213PD 32(DI)(R12*1), Y12, Y1
	VFMADD213PD 64(DI)(R12*1), Y12, Y2
	VFMADD213PD 96(DI)(R12*1), Y12, Y3
	VMOVUPD     Y0, (DI)(R12*1)
	VMOVUPD     Y1, 32(DI)(R12*1)
	VMOVUPD     Y2, 64(DI)(R12*1)
	VMOVUPD     Y3, 96(DI)(R12*1)
	CMPQ        R11, $1
	JEQ         haccum
	JGT         hfirst
	ADDQ        $8, AX
	JMP         hoctet

haccum:
	VMOVUPD (SI)(R12*1), Y8
	VMOVUPD 32(SI)(R12*1), Y9
	VMOVUPD 64(SI)(R12*1), Y10
	VMOVUPD 96(SI)(R12*1), Y11
	ACC(Y0, Y1, Y8, Y9, 0)
	ACC(Y2, Y3, Y10, Y11, 64)
	ADDQ    $8, AX
	JMP     hoctet

hfirst:
	VMOVUPD (SI)(R12*1), Y8
	VMOVUPD 32(SI)(R12*1), Y9
	VMOVUPD 64(SI)(R12*1), Y10
	VMOVUPD 96(SI)(R12*1), Y11
	VXORPD  Y5, Y5, Y5
	VXORPD  Y6, Y6, Y6
	TERMS(Y0, Y1, Y8, Y9, 0)
	VXORPD  Y5, Y5, Y5
	VXORPD  Y6, Y6, Y6
	TERMS(Y2, Y3, Y10, Y11, 64)
	ADDQ    $8, AX
	JMP     hoctet

hnextrow:
	MOVQ k+40(FP), CX
	MOVQ $1, AX
	SHLQ CX, AX
	ADDQ AX, R8
	JMP  hrow

hdone:
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

// Constants of gramAVX2, four doubles each.
DATA gramSign<>+0(SB)/8, $0x8000000000000000 // sign bit in every lane
DATA gramSign<>+8(SB)/8, $0x8000000000000000
DATA gramSign<>+16(SB)/8, $0x8000000000000000
DATA gramSign<>+24(SB)/8, $0x8000000000000000
DATA gramSign<>+32(SB)/8, $0x8000000000000000 // sign of the real parts: i·z = swap(z) ^ this
DATA gramSign<>+40(SB)/8, $0
DATA gramSign<>+48(SB)/8, $0x8000000000000000
DATA gramSign<>+56(SB)/8, $0
DATA gramSign<>+64(SB)/8, $0                  // sign of the imaginary parts: -i·z = swap(z) ^ this
DATA gramSign<>+72(SB)/8, $0x8000000000000000
DATA gramSign<>+80(SB)/8, $0
DATA gramSign<>+88(SB)/8, $0x8000000000000000
DATA gramSign<>+96(SB)/8, $0.0                // 2·(excitations of s+i) - 2·popcount(s), i = 0..3, per lane pair
DATA gramSign<>+104(SB)/8, $0.0
DATA gramSign<>+112(SB)/8, $2.0
DATA gramSign<>+120(SB)/8, $2.0
DATA gramSign<>+128(SB)/8, $2.0
DATA gramSign<>+136(SB)/8, $2.0
DATA gramSign<>+144(SB)/8, $4.0
DATA gramSign<>+152(SB)/8, $4.0
GLOBL gramSign<>(SB), RODATA|NOPTR, $160

#define SIGN gramSign<>+0(SB)
#define NEGRE gramSign<>+32(SB)
#define NEGIM gramSign<>+64(SB)
#define SIGMA01 gramSign<>+96(SB)
#define SIGMA23 gramSign<>+128(SB)

// g[i][j] += x_i·x_j lane by lane over the two halves of the quad.
#define GRAM(a01, a23, b01, b23, off) \
	VMULPD      b01, a01, Y10;  \
	VFMADD231PD b23, a23, Y10;  \
	VADDPD      off(R9), Y10, Y10; \
	VMOVUPD     Y10, off(R9)

// The gram kernels, in complex128 (gramAVX2, gramFlipsAVX2) and reading a
// complex64 copy of the state (gram32AVX2, gramFlips32AVX2), share the
// macros below and differ only in how they load a quad: two complex128
// per ymm register either way. Per quad they sum the partners of every
// bit, plain (T) and weighted by their interaction (TW), and the same with
// the sign σ = +1 for a bit clear in s and -1 for a bit set (D, DW). Bits
// 0 and 1 are in the quad; bits n-1 down to 2 take the partner quad, with
// the bit's sign in the sign bit of Y14 (shifted left per bit).
// Accumulators: T Y0/Y1, TW Y2/Y3, D Y4/Y5, DW Y6/Y7. Registers: SI psi,
// R8 inter, AX s, DI 64-n, R9 acc, R10 bit n-1 in bytes of psi.

// FLIPS01 sets T and D to the flips of bits 0 and 1 of the quad (Y8, Y9):
// element 0 has both clear, 1 and 2 one of each, 3 both set: T = (v1+v2,
// v0+v3, v0+v3, v1+v2), D = (v1+v2, v3-v0, v3-v0, -(v1+v2)). Temporaries
// Y13, Y14.
#define FLIPS01(T01, T23, D01, D23) \
	VPERM2F128 $1, Y9, Y9, Y13;      \
	VADDPD     Y13, Y8, T23;         \
	VSUBPD     Y8, Y13, Y13;         \
	VPERM2F128 $1, T23, T23, T01;    \
	VPERM2F128 $0x20, Y13, T01, D01; \
	VXORPD     SIGN, T01, Y14;       \
	VPERM2F128 $0x20, Y14, Y13, D23

// INTER sets Y11 = (c0, c0, c1, c1) and Y12 = (c2, c2, c3, c3) from the
// quad's four interaction energies at ADDR.
#define INTER(ADDR) \
	VMOVUPD ADDR, Y10;        \
	VPERMPD $0x50, Y10, Y11;  \
	VPERMPD $0xFA, Y10, Y12

// SIGNS sets Y14 = s << (64-n) in every lane (bit n-1 of s in the sign
// bit) and R13 to bit n-1 in bytes of psi, for the partner loop.
#define SIGNS \
	MOVQ         DI, CX;  \
	MOVQ         AX, DX;  \
	SHLQ         CX, DX;  \
	VMOVQ        DX, X14; \
	VPBROADCASTQ X14, Y14; \
	MOVQ         R10, R13

// GPARTNER adds the partner quad (Y8, Y9) to T and, signed, to D; with
// GPARTNERW also weighted by its interactions (Y11, Y12) to TW and DW.
#define GPARTNER \
	VANDPD SIGN, Y14, Y13; \
	VPSLLQ $1, Y14, Y14;   \
	VADDPD Y8, Y0, Y0;     \
	VADDPD Y9, Y1, Y1;     \
	VXORPD Y13, Y8, Y8;    \
	VXORPD Y13, Y9, Y9;    \
	VADDPD Y8, Y4, Y4;     \
	VADDPD Y9, Y5, Y5

#define GPARTNERW \
	VANDPD      SIGN, Y14, Y13; \
	VPSLLQ      $1, Y14, Y14;   \
	VADDPD      Y8, Y0, Y0;     \
	VADDPD      Y9, Y1, Y1;     \
	VFMADD231PD Y11, Y8, Y2;    \
	VFMADD231PD Y12, Y9, Y3;    \
	VXORPD      Y13, Y8, Y8;    \
	VXORPD      Y13, Y9, Y9;    \
	VADDPD      Y8, Y4, Y4;     \
	VADDPD      Y9, Y5, Y5;     \
	VFMADD231PD Y11, Y8, Y6;    \
	VFMADD231PD Y12, Y9, Y7

// XGRAM forms gram's five vectors x0 = c·T - TW, x1 = i·(DW - c·D),
// x2 = D, x3 = -i·T, x4 = i·σ·v in (Y2, Y3), (Y6, Y7), (Y4, Y5), (Y0, Y1),
// (Y8, Y9), from the quad's interactions in (Y11, Y12) and amplitudes in
// (Y8, Y9), and adds their products to acc.
#define XGRAM \
	VFMSUB231PD  Y11, Y0, Y2;          \
	VFMSUB231PD  Y12, Y1, Y3;          \
	VFNMADD231PD Y11, Y4, Y6;          \
	VFNMADD231PD Y12, Y5, Y7;          \
	VPERMILPD    $5, Y6, Y6;           \
	VPERMILPD    $5, Y7, Y7;           \
	VXORPD       NEGRE, Y6, Y6;        \
	VXORPD       NEGRE, Y7, Y7;        \
	VPERMILPD    $5, Y0, Y0;           \
	VPERMILPD    $5, Y1, Y1;           \
	VXORPD       NEGIM, Y0, Y0;        \
	VXORPD       NEGIM, Y1, Y1;        \
	POPCNTQ      AX, CX;               \
	LEAQ         -64(DI)(CX*2), CX;    \
	VCVTSI2SDQ   CX, X10, X10;         \
	VBROADCASTSD X10, Y10;             \
	VADDPD       SIGMA01, Y10, Y11;    \
	VADDPD       SIGMA23, Y10, Y12;    \
	VMULPD       Y8, Y11, Y8;          \
	VMULPD       Y9, Y12, Y9;          \
	VPERMILPD    $5, Y8, Y8;           \
	VPERMILPD    $5, Y9, Y9;           \
	VXORPD       NEGRE, Y8, Y8;        \
	VXORPD       NEGRE, Y9, Y9;        \
	GRAM(Y2, Y3, Y2, Y3, 0);           \
	GRAM(Y2, Y3, Y6, Y7, 32);          \
	GRAM(Y2, Y3, Y4, Y5, 64);          \
	GRAM(Y2, Y3, Y0, Y1, 96);          \
	GRAM(Y2, Y3, Y8, Y9, 128);         \
	GRAM(Y6, Y7, Y6, Y7, 192);         \
	GRAM(Y6, Y7, Y4, Y5, 224);         \
	GRAM(Y6, Y7, Y0, Y1, 256);         \
	GRAM(Y6, Y7, Y8, Y9, 288);         \
	GRAM(Y4, Y5, Y4, Y5, 384);         \
	GRAM(Y4, Y5, Y0, Y1, 416);         \
	GRAM(Y4, Y5, Y8, Y9, 448);         \
	GRAM(Y0, Y1, Y0, Y1, 576);         \
	GRAM(Y0, Y1, Y8, Y9, 608);         \
	GRAM(Y8, Y9, Y8, Y9, 768)

// XFLIPS forms x2 = D in (Y4, Y5) and x3 = -i·T in (Y0, Y1) and adds
// their products to acc.
#define XFLIPS \
	VPERMILPD $5, Y0, Y0;        \
	VPERMILPD $5, Y1, Y1;        \
	VXORPD    NEGIM, Y0, Y0;     \
	VXORPD    NEGIM, Y1, Y1;     \
	GRAM(Y4, Y5, Y4, Y5, 384);   \
	GRAM(Y4, Y5, Y0, Y1, 416);   \
	GRAM(Y0, Y1, Y0, Y1, 576)

// FLIPS01W is FLIPS01 for T, D and, weighted by the quad's interactions
// (INTER), TW and DW; Y8 and Y9 are left weighted.
#define FLIPS01W \
	FLIPS01(Y0, Y1, Y4, Y5); \
	VMULPD Y11, Y8, Y8;      \
	VMULPD Y12, Y9, Y9;      \
	FLIPS01(Y2, Y3, Y6, Y7)

// GRAMFULL is the body of gramAVX2 and gram32AVX2 after their arguments,
// as GRAMFLIPS is of the flips-only kernels; in addition QOFF sets QREG to
// the quad's byte offset in inter and IOFF sets IREG to the partner's
// (complex128: half the offset in psi, in R11 and DX; complex64: the
// same, R12 and CX, nothing to compute).
#define GRAMFULL(LOAD, SCALE, HALF, STOP, QOFF, QREG, IOFF, IREG) \
	MOVQ $64, DI;                      \
	SUBQ CX, DI;                       \
quad:	CMPQ AX, BX;                     \
	JGE  done;                         \
	MOVQ AX, R12;                      \
	SHLQ $SCALE, R12;                  \
	QOFF;                              \
	LOAD (SI)(R12*1), Y8;              \
	LOAD HALF(SI)(R12*1), Y9;          \
	INTER((R8)(QREG*1));               \
	FLIPS01W;                          \
	SIGNS;                             \
partners:	CMPQ R13, $STOP;             \
	JLT  x;                            \
	MOVQ R12, CX;                      \
	XORQ R13, CX;                      \
	IOFF;                              \
	LOAD (SI)(CX*1), Y8;               \
	LOAD HALF(SI)(CX*1), Y9;           \
	INTER((R8)(IREG*1));               \
	GPARTNERW;                         \
	SHRQ $1, R13;                      \
	JMP  partners;                     \
x:	INTER((R8)(QREG*1));             \
	LOAD (SI)(R12*1), Y8;              \
	LOAD HALF(SI)(R12*1), Y9;          \
	XGRAM;                             \
	ADDQ $4, AX;                       \
	JMP  quad;                         \
done:	VZEROUPPER;                      \
	RET

#define QOFF128 MOVQ AX, R11; SHLQ $3, R11
#define IOFF128 MOVQ CX, DX; SHRQ $1, DX
#define NOOFF

// gramAVX2 adds, lane by lane, the products x_i·x_j (i <= j) of gram's
// five vectors over the quads of [lo, hi) to g[i][j]; the real part of
// ⟨x_i, x_j⟩ is the sum of the four lanes.
//
// func gramAVX2(psi *complex128, inter *float64, lo, hi, n int, acc *[5][5][4]float64)
TEXT ·gramAVX2(SB), NOSPLIT, $0-48
	MOVQ psi+0(FP), SI
	MOVQ inter+8(FP), R8
	MOVQ lo+16(FP), AX
	MOVQ hi+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ acc+40(FP), R9
	MOVQ $8, R10
	SHLQ CX, R10                 // 16 << (n-1): bit n-1 in bytes of psi
	GRAMFULL(VMOVUPD, 4, 32, 64, QOFF128, R11, IOFF128, DX)

// gram32AVX2 is gramAVX2 reading the state rounded to complex64, each
// quad widened to complex128 as it is loaded: half the bytes per partner.
//
// func gram32AVX2(psi *complex64, inter *float64, lo, hi, n int, acc *[5][5][4]float64)
TEXT ·gram32AVX2(SB), NOSPLIT, $0-48
	MOVQ psi+0(FP), SI
	MOVQ inter+8(FP), R8
	MOVQ lo+16(FP), AX
	MOVQ hi+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ acc+40(FP), R9
	MOVQ $4, R10
	SHLQ CX, R10                 // 8 << (n-1): bit n-1 in bytes of psi and inter
	GRAMFULL(VCVTPS2PD, 3, 16, 32, NOOFF, R12, NOOFF, CX)

// GRAMFLIPS is the body of gramFlipsAVX2 and gramFlips32AVX2 after their
// arguments: LOAD reads a quad of psi at byte offset SCALE·s (VMOVUPD for
// complex128, VCVTPS2PD widening complex64, its second half at HALF), and
// the partner loop runs down to bit 2, STOP bytes.
#define GRAMFLIPS(LOAD, SCALE, HALF, STOP) \
	MOVQ $64, DI;                      \
	SUBQ CX, DI;                       \
quad:	CMPQ AX, BX;                     \
	JGE  done;                         \
	MOVQ AX, R12;                      \
	SHLQ $SCALE, R12;                  \
	LOAD (SI)(R12*1), Y8;              \
	LOAD HALF(SI)(R12*1), Y9;          \
	FLIPS01(Y0, Y1, Y4, Y5);           \
	SIGNS;                             \
partners:	CMPQ R13, $STOP;             \
	JLT  x;                            \
	MOVQ R12, CX;                      \
	XORQ R13, CX;                      \
	LOAD (SI)(CX*1), Y8;               \
	LOAD HALF(SI)(CX*1), Y9;           \
	GPARTNER;                          \
	SHRQ $1, R13;                      \
	JMP  partners;                     \
x:	XFLIPS;                            \
	ADDQ $4, AX;                       \
	JMP  quad;                         \
done:	VZEROUPPER;                      \
	RET

// gramFlipsAVX2 is gramAVX2 for the operators without interaction
// weights: it adds, lane by lane, the products of x2 = D and x3 = -i·T
// (gram's third and fourth vectors) over the quads of [lo, hi) to
// acc[2][2], acc[2][3] and acc[3][3], and reads no interaction energies.
//
// func gramFlipsAVX2(psi *complex128, lo, hi, n int, acc *[5][5][4]float64)
TEXT ·gramFlipsAVX2(SB), NOSPLIT, $0-40
	MOVQ psi+0(FP), SI
	MOVQ lo+8(FP), AX
	MOVQ hi+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ acc+32(FP), R9
	MOVQ $8, R10
	SHLQ CX, R10                 // 16 << (n-1): bit n-1 in bytes of psi
	GRAMFLIPS(VMOVUPD, 4, 32, 64)

// gramFlips32AVX2 is gramFlipsAVX2 reading the state rounded to
// complex64, as gram32AVX2 does.
//
// func gramFlips32AVX2(psi *complex64, lo, hi, n int, acc *[5][5][4]float64)
TEXT ·gramFlips32AVX2(SB), NOSPLIT, $0-40
	MOVQ psi+0(FP), SI
	MOVQ lo+8(FP), AX
	MOVQ hi+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ acc+32(FP), R9
	MOVQ $4, R10
	SHLQ CX, R10                 // 8 << (n-1): bit n-1 in bytes of psi
	GRAMFLIPS(VCVTPS2PD, 3, 16, 32)

// func tileAVX2(dst, mid, high *float64, k float64, n int)
TEXT ·tileAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         mid+8(FP), DX
	MOVQ         high+16(FP), R8
	VBROADCASTSD k+24(FP), Y0
	MOVQ         n+32(FP), CX
	SHLQ         $3, CX      // bytes
	XORQ         AX, AX

tloop:
	CMPQ    AX, CX
	JGE     tdone
	VADDPD  (DX)(AX*1), Y0, Y1
	VADDPD  (R8)(AX*1), Y1, Y1
	VMOVUPD Y1, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     tloop

tdone:
	VZEROUPPER
	RET
