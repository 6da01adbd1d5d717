package sequence

import "fmt"

// Error is an input error: the sequence, its variables or its device do not
// describe something that can be run. Path is a JSON path into the sequence
// (e.g. "$.operations[2].amplitude.duration") or names the variable.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func errAt(path, format string, args ...any) *Error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}
