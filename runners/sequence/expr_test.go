package sequence

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func evalJSON(t *testing.T, vars map[string]value, js string) (value, error) {
	t.Helper()
	n, err := decodeJSON([]byte(js), "$")
	if err != nil {
		t.Fatal(err)
	}
	return (&evaluator{vars: vars}).eval(n)
}

func TestExpressions(t *testing.T) {
	vars := map[string]value{"v": {v: []float64{2, -3, 5}}, "s": {v: []float64{4}}}
	cases := []struct {
		expr string
		want []float64
	}{
		{`3.5`, []float64{3.5}},
		{`[1, 2]`, []float64{1, 2}},
		{`{"variable": "v"}`, []float64{2, -3, 5}},
		{`{"expression": "index", "lhs": {"variable": "v"}, "rhs": -1}`, []float64{5}},
		{`{"expression": "add", "lhs": {"variable": "v"}, "rhs": 1}`, []float64{3, -2, 6}},
		{`{"expression": "sub", "lhs": 1, "rhs": {"variable": "s"}}`, []float64{-3}},
		{`{"expression": "mul", "lhs": {"variable": "v"}, "rhs": {"variable": "v"}}`, []float64{4, 9, 25}},
		{`{"expression": "div", "lhs": 7, "rhs": 2}`, []float64{3.5}},
		{`{"expression": "mod", "lhs": -7, "rhs": 3}`, []float64{2}},
		{`{"expression": "pow", "lhs": 2, "rhs": 10}`, []float64{1024}},
		{`{"expression": "neg", "lhs": {"variable": "v"}}`, []float64{-2, 3, -5}},
		{`{"expression": "abs", "lhs": -2.5}`, []float64{2.5}},
		{`{"expression": "floor", "lhs": -2.5}`, []float64{-3}},
		{`{"expression": "ceil", "lhs": 2.1}`, []float64{3}},
		{`{"expression": "round", "lhs": 2.5}`, []float64{2}},
		{`{"expression": "sqrt", "lhs": 16}`, []float64{4}},
		{`{"expression": "exp", "lhs": 0}`, []float64{1}},
		{`{"expression": "log2", "lhs": 8}`, []float64{3}},
		{`{"expression": "log", "lhs": 1}`, []float64{0}},
		{`{"expression": "sin", "lhs": 0}`, []float64{0}},
		{`{"expression": "cos", "lhs": 0}`, []float64{1}},
		{`{"expression": "tan", "lhs": 0}`, []float64{0}},
	}
	for _, c := range cases {
		got, err := evalJSON(t, vars, c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if len(got.v) != len(c.want) {
			t.Errorf("%s = %v, want %v", c.expr, got.v, c.want)
			continue
		}
		for i := range got.v {
			if math.Abs(got.v[i]-c.want[i]) > 1e-12 {
				t.Errorf("%s = %v, want %v", c.expr, got.v, c.want)
			}
		}
	}
	for expr, msg := range map[string]string{
		`{"variable": "nope"}`: `"nope"`,
		`{"expression": "index", "lhs": {"variable": "v"}, "rhs": 3}`:   "out of bounds",
		`{"expression": "div", "lhs": 1, "rhs": 0}`:                     "division by zero",
		`{"expression": "sqrt", "lhs": -1}`:                             "non-finite",
		`{"expression": "frobnicate", "lhs": 1, "rhs": 2}`:              "unknown expression",
		`{"expression": "add", "lhs": {"variable": "v"}, "rhs": [1,2]}`: "cannot be combined",
		`"text"`: "expected a number",
	} {
		_, err := evalJSON(t, vars, expr)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %v, want %q", expr, err, msg)
		}
	}
}

func TestSubstituteVariables(t *testing.T) {
	decls := []varDecl{{name: "n", isInt: true, size: 1}, {name: "xs", size: 2}}
	got, err := substitute(decls, json.RawMessage(`{"n": 7.9, "xs": [1.5, 2], "extra": "ignored"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got["n"].v[0] != 7 || got["xs"].v[1] != 2 {
		t.Errorf("got %v", got)
	}
	for raw, path := range map[string]string{
		`{"xs": [1, 2]}`:          "variables.n",
		`{"n": 1, "xs": [1]}`:     "variables.xs",
		`{"n": "1", "xs": [1,2]}`: "variables.n",
		`[1]`:                     "variables",
	} {
		_, err := substitute(decls, json.RawMessage(raw))
		e, ok := err.(*Error)
		if !ok || e.Path != path {
			t.Errorf("%s: got %v, want an error at %s", raw, err, path)
		}
	}
}
