package mps

import "math/cmplx"

// site is one MPS tensor A[l, s, r] stored at (l·2+s)·dr + r: read as a
// (2dl × dr) matrix it is "left-grouped", as (dl × 2dr) "right-grouped".
type site struct {
	dl, dr int
	a      []complex128
}

// env is a left or right environment: w blocks of d×d (bra row, ket
// column). L_i sits left of site i (w = its MPO left dimension, d = dl);
// R_i right of site i (w = its MPO right dimension, d = dr).
type env struct {
	w, d int
	e    []complex128
}

func (e *env) block(a int) []complex128 { return e.e[a*e.d*e.d : (a+1)*e.d*e.d] }

func trivialEnv() *env { return &env{w: 1, d: 1, e: []complex128{1}} }

// axpyOp adds op[s',s]·x[.., s, ..] into y[.., s', ..] for two-level
// blocks: x and y hold, for each of `outer` rows, 2 slices of length
// inner (s major).
func axpyOp(y, x []complex128, op op2, outer, inner int) {
	for o := 0; o < outer; o++ {
		base := o * 2 * inner
		x0, x1 := x[base:base+inner], x[base+inner:base+2*inner]
		y0, y1 := y[base:base+inner], y[base+inner:base+2*inner]
		if c := op[0]; c != 0 {
			axpy(y0, x0, c)
		}
		if c := op[1]; c != 0 {
			axpy(y0, x1, c)
		}
		if c := op[2]; c != 0 {
			axpy(y1, x0, c)
		}
		if c := op[3]; c != 0 {
			axpy(y1, x1, c)
		}
	}
}

// axpy adds c·x to y (len(y) ≥ len(x)).
func axpy(y, x []complex128, c complex128) {
	if useAVX2 && len(x) >= 2 {
		_ = y[len(x)-1]
		re := [4]float64{real(c), real(c), real(c), real(c)}
		im := [4]float64{-imag(c), imag(c), -imag(c), imag(c)}
		caxpyAVX2(&y[0], &x[0], len(x), &re, &im)
		return
	}
	if c == 1 {
		for i, v := range x {
			y[i] += v
		}
		return
	}
	for i, v := range x {
		y[i] += c * v
	}
}

// extendLeft returns L_{i+1} from L_i, site i and its MPO tensor:
// L'[b][r',r] = Σ conj(A[l',s',r']) W[a,b][s',s] L[a][l',l] A[l,s,r].
func extendLeft(ws *vecPool, l *env, A *site, w *mpoSite) *env {
	dl, dr := A.dl, A.dr
	blk := dl * 2 * dr
	x := ws.get(0, l.w*blk)
	for a := 0; a < l.w; a++ {
		matMul(x[a*blk:(a+1)*blk], l.block(a), A.a, dl, dl, 2*dr)
	}
	y := ws.get(1, w.wr*blk)
	clear(y)
	for _, t := range w.terms {
		axpyOp(y[t.b*blk:(t.b+1)*blk], x[t.a*blk:(t.a+1)*blk], t.op, dl, dr)
	}
	out := &env{w: w.wr, d: dr, e: make([]complex128, w.wr*dr*dr)}
	for b := 0; b < w.wr; b++ {
		matMulHA(out.block(b), A.a, y[b*blk:(b+1)*blk], 2*dl, dr, dr)
	}
	return out
}

// extendRight returns R_{i-1} from R_i, site i and its MPO tensor:
// R'[a][l',l] = Σ conj(A[l',s',r']) W[a,b][s',s] R[b][r',r] A[l,s,r].
func extendRight(ws *vecPool, r *env, A *site, w *mpoSite) *env {
	dl, dr := A.dl, A.dr
	blk := dl * 2 * dr
	x := ws.get(0, r.w*blk) // X[b][l,s][r'] = Σ_r A[l,s,r] R[b][r',r]
	clear(x)
	for b := 0; b < r.w; b++ {
		matMulBTAdd(x[b*blk:(b+1)*blk], A.a, r.block(b), 2*dl, dr, dr)
	}
	y := ws.get(1, w.wl*blk)
	clear(y)
	for _, t := range w.terms {
		axpyOp(y[t.a*blk:(t.a+1)*blk], x[t.b*blk:(t.b+1)*blk], t.op, dl, dr)
	}
	ca := ws.get(2, len(A.a))
	for i, v := range A.a {
		ca[i] = cmplx.Conj(v)
	}
	out := &env{w: w.wl, d: dl, e: make([]complex128, w.wl*dl*dl)}
	for a := 0; a < w.wl; a++ {
		matMulBTAdd(out.block(a), ca, y[a*blk:(a+1)*blk], dl, 2*dr, dl)
	}
	return out
}

// applyOne is the one-site effective Hamiltonian on M (dl×2×dr):
// out[l',s',r'] = Σ L[a][l',l] W[a,b][s',s] R[b][r',r] M[l,s,r].
func applyOne(ws *vecPool, out, m []complex128, l *env, w *mpoSite, r *env) {
	dl, dr := l.d, r.d
	blk := dl * 2 * dr
	x := ws.get(0, l.w*blk)
	for a := 0; a < l.w; a++ {
		matMul(x[a*blk:(a+1)*blk], l.block(a), m, dl, dl, 2*dr)
	}
	y := ws.get(1, w.wr*blk)
	clear(y)
	for _, t := range w.terms {
		axpyOp(y[t.b*blk:(t.b+1)*blk], x[t.a*blk:(t.a+1)*blk], t.op, dl, dr)
	}
	clear(out)
	for b := 0; b < w.wr; b++ {
		matMulBTAdd(out, y[b*blk:(b+1)*blk], r.block(b), 2*dl, dr, dr)
	}
}

// applyTwo is the two-site effective Hamiltonian on θ (dl×2×2×dr).
func applyTwo(ws *vecPool, out, th []complex128, l *env, w1, w2 *mpoSite, r *env) {
	dl, dr := l.d, r.d
	blk := dl * 4 * dr
	x := ws.get(0, l.w*blk)
	for a := 0; a < l.w; a++ {
		matMul(x[a*blk:(a+1)*blk], l.block(a), th, dl, dl, 4*dr)
	}
	// Y[b][l',s1',(s2,r)] += W1[a,b][s1',s1] X[a][l',s1,(s2,r)]
	y := ws.get(1, w1.wr*blk)
	clear(y)
	for _, t := range w1.terms {
		axpyOp(y[t.b*blk:(t.b+1)*blk], x[t.a*blk:(t.a+1)*blk], t.op, dl, 2*dr)
	}
	// Z[c][(l',s1'),s2',r] += W2[b,c][s2',s2] Y[b][(l',s1'),s2,r]
	z := ws.get(2, w2.wr*blk)
	clear(z)
	for _, t := range w2.terms {
		axpyOp(z[t.b*blk:(t.b+1)*blk], y[t.a*blk:(t.a+1)*blk], t.op, 2*dl, dr)
	}
	clear(out)
	for c := 0; c < w2.wr; c++ {
		matMulBTAdd(out, z[c*blk:(c+1)*blk], r.block(c), 4*dl, dr, dr)
	}
}
