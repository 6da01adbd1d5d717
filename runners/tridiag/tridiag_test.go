package tridiag

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestEigen(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 2, 5, 30} {
		d := make([]float64, n)
		e := make([]float64, max(n-1, 0))
		for i := range d {
			d[i] = r.NormFloat64()
		}
		for i := range e {
			e[i] = r.NormFloat64()
		}
		if n == 5 {
			e[2] = 0 // a split matrix
		}
		dec := Eigen(d, e)
		w, z := dec.W, dec.Z
		// T·z_k = w_k·z_k and Z orthogonal.
		for k := 0; k < n; k++ {
			for i := 0; i < n; i++ {
				tz := d[i] * z[i*n+k]
				if i > 0 {
					tz += e[i-1] * z[(i-1)*n+k]
				}
				if i < n-1 {
					tz += e[i] * z[(i+1)*n+k]
				}
				if math.Abs(tz-w[k]*z[i*n+k]) > 1e-12 {
					t.Fatalf("n=%d: eigenpair %d violated at row %d", n, k, i)
				}
			}
			for k2 := 0; k2 < n; k2++ {
				s := 0.0
				for i := 0; i < n; i++ {
					s += z[i*n+k] * z[i*n+k2]
				}
				if k == k2 {
					s--
				}
				if math.Abs(s) > 1e-12 {
					t.Fatalf("n=%d: Z not orthogonal", n)
				}
			}
		}
	}
}

// ExpFirstColumn is exp(-iτT)·e₁: for a 2×2 T = [[a, b], [b, a]] it is
// e^{-iτa}·(cos τb, −i·sin τb).
func TestExpFirstColumn(t *testing.T) {
	const a, b, tau = 0.7, 1.3, 0.9
	y := Eigen([]float64{a, a}, []float64{b}).ExpFirstColumn(tau)
	ph := complex(math.Cos(tau*a), -math.Sin(tau*a))
	want := []complex128{ph * complex(math.Cos(tau*b), 0), ph * complex(0, -math.Sin(tau*b))}
	for i := range want {
		if d := y[i] - want[i]; math.Hypot(real(d), imag(d)) > 1e-14 {
			t.Fatalf("y[%d] = %v, want %v", i, y[i], want[i])
		}
	}
}
