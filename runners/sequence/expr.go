package sequence

import (
	"encoding/json"
	"math"
)

// value is the result of evaluating a parameter: a scalar, or an array
// (variables are arrays, even of size 1).
type value struct {
	v      []float64
	scalar bool
}

func scalarValue(f float64) value { return value{v: []float64{f}, scalar: true} }

// maxArrayLen bounds arrays built from JSON or variables.
const maxArrayLen = 1 << 20

// evaluator evaluates parameters (literals, variable references and
// expressions) once the job's variables have been substituted.
type evaluator struct {
	vars        map[string]value
	maxDuration int // longest waveform accepted (ns)
}

func (e *evaluator) eval(n node) (value, error) {
	switch x := n.v.(type) {
	case json.Number:
		f, err := n.num()
		if err != nil {
			return value{}, err
		}
		return scalarValue(f), nil
	case []any:
		if len(x) > maxArrayLen {
			return value{}, errAt(n.path, "array too long (%d elements)", len(x))
		}
		items, _ := n.arr()
		out := make([]float64, len(items))
		for i, it := range items {
			f, err := e.scalar(it)
			if err != nil {
				return value{}, err
			}
			out[i] = f
		}
		return value{v: out}, nil
	case map[string]any:
		if vn, ok := n.opt("variable"); ok {
			name, err := vn.str()
			if err != nil {
				return value{}, err
			}
			val, ok := e.vars[name]
			if !ok {
				return value{}, errAt(vn.path, "variable %q is used but not declared", name)
			}
			return value{v: append([]float64(nil), val.v...)}, nil
		}
		if _, ok := n.opt("expression"); ok {
			return e.expression(n)
		}
		return value{}, errAt(n.path, "expected a number, a variable reference or an expression")
	}
	return value{}, errAt(n.path, "expected a number, a variable reference or an expression, got %s", kindOf(n.v))
}

var unaryOps = map[string]func(float64) float64{
	"neg":   func(x float64) float64 { return -x },
	"abs":   math.Abs,
	"floor": math.Floor,
	"ceil":  math.Ceil,
	"round": math.RoundToEven,
	"sqrt":  math.Sqrt,
	"exp":   math.Exp,
	"log2":  math.Log2,
	"log":   math.Log,
	"sin":   math.Sin,
	"cos":   math.Cos,
	"tan":   math.Tan,
}

var binaryOps = map[string]func(a, b float64) float64{
	"add": func(a, b float64) float64 { return a + b },
	"sub": func(a, b float64) float64 { return a - b },
	"mul": func(a, b float64) float64 { return a * b },
	"div": func(a, b float64) float64 { return a / b },
	"pow": math.Pow,
	// Python and numpy: the result takes the sign of the divisor.
	"mod": func(a, b float64) float64 {
		r := math.Mod(a, b)
		if r != 0 && (r < 0) != (b < 0) {
			r += b
		}
		return r
	},
}

func (e *evaluator) expression(n node) (value, error) {
	opN, _ := n.get("expression")
	op, err := opN.str()
	if err != nil {
		return value{}, err
	}
	lhsN, err := n.get("lhs")
	if err != nil {
		return value{}, err
	}
	lhs, err := e.eval(lhsN)
	if err != nil {
		return value{}, err
	}
	if f, ok := unaryOps[op]; ok {
		out := value{v: make([]float64, len(lhs.v)), scalar: lhs.scalar}
		for i, x := range lhs.v {
			out.v[i] = f(x)
		}
		return out, checkFinite(out, n.path, op)
	}
	rhsN, err := n.get("rhs")
	if err != nil {
		return value{}, err
	}
	rhs, err := e.eval(rhsN)
	if err != nil {
		return value{}, err
	}
	if op == "index" {
		return index(lhs, rhs, n.path)
	}
	f, ok := binaryOps[op]
	if !ok {
		return value{}, errAt(opN.path, "unknown expression %q", op)
	}
	if (op == "div" || op == "mod") && containsZero(rhs.v) {
		return value{}, errAt(n.path, "division by zero")
	}
	out, err := broadcast(lhs, rhs, f, n.path)
	if err != nil {
		return value{}, err
	}
	return out, checkFinite(out, n.path, op)
}

func containsZero(v []float64) bool {
	for _, x := range v {
		if x == 0 {
			return true
		}
	}
	return false
}

func checkFinite(v value, path, op string) error {
	for _, x := range v.v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return errAt(path, "%q gives a non-finite result", op)
		}
	}
	return nil
}

// broadcast applies f elementwise with numpy-like broadcasting of scalars
// and size-1 arrays.
func broadcast(a, b value, f func(a, b float64) float64, path string) (value, error) {
	switch {
	case len(a.v) == len(b.v):
		out := value{v: make([]float64, len(a.v)), scalar: a.scalar && b.scalar}
		for i := range a.v {
			out.v[i] = f(a.v[i], b.v[i])
		}
		return out, nil
	case len(a.v) == 1:
		out := value{v: make([]float64, len(b.v))}
		for i := range b.v {
			out.v[i] = f(a.v[0], b.v[i])
		}
		return out, nil
	case len(b.v) == 1:
		out := value{v: make([]float64, len(a.v))}
		for i := range a.v {
			out.v[i] = f(a.v[i], b.v[0])
		}
		return out, nil
	}
	return value{}, errAt(path, "operands have sizes %d and %d that cannot be combined", len(a.v), len(b.v))
}

func index(arr, idx value, path string) (value, error) {
	n := len(arr.v)
	pick := func(f float64) (float64, error) {
		k := int(f)
		if float64(k) != f {
			return 0, errAt(path, "index %v is not an integer", f)
		}
		if k < -n || k >= n {
			return 0, errAt(path, "index %d out of bounds for size %d", k, n)
		}
		if k < 0 {
			k += n
		}
		return arr.v[k], nil
	}
	if idx.scalar {
		f, err := pick(idx.v[0])
		return scalarValue(f), err
	}
	out := value{v: make([]float64, len(idx.v))}
	for i, f := range idx.v {
		x, err := pick(f)
		if err != nil {
			return value{}, err
		}
		out.v[i] = x
	}
	return out, nil
}

// scalar evaluates a parameter that must be a single number (a size-1
// array is accepted, as Pulser does).
func (e *evaluator) scalar(n node) (float64, error) {
	v, err := e.eval(n)
	if err != nil {
		return 0, err
	}
	if len(v.v) != 1 {
		return 0, errAt(n.path, "expected a single number, got an array of size %d", len(v.v))
	}
	return v.v[0], nil
}

// integer evaluates a parameter cast to int like Python's int() (truncation).
func (e *evaluator) integer(n node) (int, error) {
	f, err := e.scalar(n)
	if err != nil {
		return 0, err
	}
	if math.Abs(f) > 1e15 {
		return 0, errAt(n.path, "integer %v out of range", f)
	}
	return int(f), nil
}

// array evaluates a parameter that must be an array (or a scalar, taken as
// an array of one).
func (e *evaluator) array(n node) ([]float64, error) {
	v, err := e.eval(n)
	if err != nil {
		return nil, err
	}
	return v.v, nil
}
