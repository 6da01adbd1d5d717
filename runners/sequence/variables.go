package sequence

import (
	"encoding/json"
	"math"
)

// varDecl is a variable declared by the sequence.
type varDecl struct {
	name  string
	isInt bool
	size  int
}

func parseVarDecls(n node) ([]varDecl, error) {
	if _, err := n.obj(); err != nil {
		return nil, err
	}
	var out []varDecl
	for _, name := range n.keys() {
		d, _ := n.get(name)
		typN, err := d.get("type")
		if err != nil {
			return nil, err
		}
		typ, err := typN.str()
		if err != nil {
			return nil, err
		}
		if typ != "int" && typ != "float" {
			return nil, errAt(typN.path, "variable type must be \"int\" or \"float\", not %q", typ)
		}
		valN, err := d.get("value")
		if err != nil {
			return nil, err
		}
		vals, err := valN.arr()
		if err != nil {
			return nil, err
		}
		if len(vals) == 0 || len(vals) > maxArrayLen {
			return nil, errAt(valN.path, "a variable needs between 1 and %d values", maxArrayLen)
		}
		out = append(out, varDecl{name: name, isInt: typ == "int", size: len(vals)})
	}
	return out, nil
}

// substitute casts the job's values onto the declared variables as Pulser
// does: every declared variable must be given, values are cast to the
// declared type (int truncates) and must have the declared size; values for
// undeclared names are ignored.
func substitute(decls []varDecl, raw json.RawMessage) (map[string]value, error) {
	given := node{v: map[string]any{}, path: "variables"}
	if len(raw) > 0 && string(raw) != "null" {
		n, err := decodeJSON(raw, "variables")
		if err != nil {
			return nil, err
		}
		if _, err := n.obj(); err != nil {
			return nil, err
		}
		given = n
	}
	out := make(map[string]value, len(decls))
	for _, d := range decls {
		vn, ok := given.opt(d.name)
		if !ok {
			return nil, &Error{Path: "variables." + d.name, Msg: "no value given for declared variable \"" + d.name + "\""}
		}
		var nums []node
		if _, isArr := vn.v.([]any); isArr {
			nums, _ = vn.arr()
		} else {
			nums = []node{vn}
		}
		if len(nums) != d.size {
			return nil, errAt(vn.path, "variable %q has size %d, got %d value(s)", d.name, d.size, len(nums))
		}
		vals := make([]float64, len(nums))
		for i, x := range nums {
			f, err := x.num()
			if err != nil {
				return nil, errAt(x.path, "variable %q: %s", d.name, err.(*Error).Msg)
			}
			if d.isInt {
				if math.Abs(f) > 1e15 {
					return nil, errAt(x.path, "variable %q: %v does not fit an int", d.name, f)
				}
				f = math.Trunc(f)
			}
			vals[i] = f
		}
		out[d.name] = value{v: vals}
	}
	return out, nil
}
