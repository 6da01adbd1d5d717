package sequence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// node is a decoded JSON value together with its path, so that every
// input error can name where it comes from.
type node struct {
	v    any
	path string
}

func decodeJSON(data []byte, path string) (node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return node{}, errAt(path, "invalid JSON: %v", err)
	}
	if dec.More() {
		return node{}, errAt(path, "invalid JSON: trailing data")
	}
	return node{v: v, path: path}, nil
}

func (n node) isNull() bool { return n.v == nil }

func (n node) obj() (map[string]any, error) {
	m, ok := n.v.(map[string]any)
	if !ok {
		return nil, errAt(n.path, "expected an object, got %s", kindOf(n.v))
	}
	return m, nil
}

func (n node) has(key string) bool {
	m, ok := n.v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[key]
	return ok
}

// get returns a member of an object; a missing member is an error.
func (n node) get(key string) (node, error) {
	m, err := n.obj()
	if err != nil {
		return node{}, err
	}
	v, ok := m[key]
	if !ok {
		return node{}, errAt(n.path, "missing field %q", key)
	}
	return node{v: v, path: n.path + "." + key}, nil
}

// opt returns a member, or ok=false if absent.
func (n node) opt(key string) (node, bool) {
	m, ok := n.v.(map[string]any)
	if !ok {
		return node{}, false
	}
	v, ok := m[key]
	return node{v: v, path: n.path + "." + key}, ok
}

func (n node) keys() []string {
	m, _ := n.v.(map[string]any)
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (n node) arr() ([]node, error) {
	a, ok := n.v.([]any)
	if !ok {
		return nil, errAt(n.path, "expected an array, got %s", kindOf(n.v))
	}
	out := make([]node, len(a))
	for i, v := range a {
		out[i] = node{v: v, path: fmt.Sprintf("%s[%d]", n.path, i)}
	}
	return out, nil
}

func (n node) str() (string, error) {
	s, ok := n.v.(string)
	if !ok {
		return "", errAt(n.path, "expected a string, got %s", kindOf(n.v))
	}
	return s, nil
}

func (n node) boolean() (bool, error) {
	b, ok := n.v.(bool)
	if !ok {
		return false, errAt(n.path, "expected a boolean, got %s", kindOf(n.v))
	}
	return b, nil
}

// num returns a finite JSON number.
func (n node) num() (float64, error) {
	num, ok := n.v.(json.Number)
	if !ok {
		return 0, errAt(n.path, "expected a number, got %s", kindOf(n.v))
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errAt(n.path, "number %s out of range", num)
	}
	return f, nil
}

// optNum returns a number, def when absent, and ok=false with no error
// when the member is null.
func (n node) optNum(key string, def float64) (float64, bool, error) {
	c, ok := n.opt(key)
	if !ok {
		return def, true, nil
	}
	if c.isNull() {
		return def, false, nil
	}
	f, err := c.num()
	return f, true, err
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
