// Package envelope holds the JSend envelope of every facade response and the
// error type that keeps the same envelope, with FastAPI-style validation
// details on 422.
package envelope

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// Envelope wraps one successful response.
type Envelope[T any] struct {
	Status  string `json:"status" example:"success" doc:"Always success."`
	Message string `json:"message" example:"OK."`
	Code    string `json:"code" example:"200" doc:"The HTTP status code, as a string."`
	Data    T      `json:"data"`
}

// Pagination describes one page of a list: start = offset, end = offset + len(data).
type Pagination struct {
	Total int `json:"total" doc:"Number of items matching the filters."`
	Start int `json:"start" doc:"Offset of the first item of the page."`
	End   int `json:"end" doc:"Offset after the last item of the page; ask again with offset=end until end >= total."`
}

// Page wraps one page of a list.
type Page[T any] struct {
	Status     string     `json:"status" example:"success"`
	Message    string     `json:"message" example:"OK."`
	Code       string     `json:"code" example:"200"`
	Data       []T        `json:"data"`
	Pagination Pagination `json:"pagination"`
}

// OK wraps data in a success envelope.
func OK[T any](data T) Envelope[T] {
	return Envelope[T]{Status: "success", Message: "OK.", Code: "200", Data: data}
}

// NewPage wraps one page of items that starts at offset among total matches.
func NewPage[T any](items []T, offset, total int) Page[T] {
	if items == nil {
		items = []T{}
	}
	return Page[T]{
		Status: "success", Message: "OK.", Code: "200", Data: items,
		Pagination: Pagination{Total: total, Start: offset, End: offset + len(items)},
	}
}

// Detail is one validation problem, FastAPI style.
type Detail struct {
	Loc  []any  `json:"loc" doc:"Where the problem is, e.g. [\"body\", \"jobs\", 0, \"runs\"]."`
	Msg  string `json:"msg"`
	Type string `json:"type" example:"value_error"`
}

// ErrorData is the data of an error envelope.
type ErrorData struct {
	Description string   `json:"description"`
	Detail      []Detail `json:"detail,omitempty"`
}

// Error is an error response: the JSend envelope with status "fail" (4xx) or
// "error" (5xx).
type Error struct {
	httpStatus int
	headers    http.Header
	Status     string    `json:"status" example:"fail" enum:"fail,error"`
	Message    string    `json:"message"`
	Code       string    `json:"code" example:"404"`
	Data       ErrorData `json:"data"`
}

// Error returns the description.
func (e *Error) Error() string { return e.Data.Description }

// GetStatus returns the HTTP status of the error.
func (e *Error) GetStatus() int { return e.httpStatus }

// GetHeaders returns the headers the response carries (huma sets them).
func (e *Error) GetHeaders() http.Header { return e.headers }

// WithHeader sets a response header, e.g. Retry-After, and returns e.
func (e *Error) WithHeader(key, value string) *Error {
	if e.headers == nil {
		e.headers = http.Header{}
	}
	e.headers.Set(key, value)
	return e
}

// New returns an error response with this HTTP status and description.
func New(status int, description string) *Error {
	kind := "fail"
	if status >= 500 {
		kind = "error"
	}
	return &Error{
		httpStatus: status,
		Status:     kind,
		Message:    http.StatusText(status),
		Code:       strconv.Itoa(status),
		Data:       ErrorData{Description: description},
	}
}

// Errorf is New with a formatted description.
func Errorf(status int, format string, args ...any) *Error {
	return New(status, fmt.Sprintf(format, args...))
}

// Invalid is a 422 naming the field at loc (e.g. "body", "jobs", 0, "runs") and why.
func Invalid(msg string, loc ...any) *Error {
	e := New(http.StatusUnprocessableEntity, locString(loc)+": "+msg)
	e.Data.Detail = []Detail{{Loc: loc, Msg: msg, Type: "value_error"}}
	return e
}

// NotFound is the 404 of an unknown id (or an id of a project the caller cannot see).
func NotFound(kind, id string) *Error {
	return Errorf(http.StatusNotFound, "%s %s not found", kind, id)
}

// FromHuma converts huma's errors (validation, body limits, timeouts) into
// the envelope. It is installed as huma.NewError.
func FromHuma(status int, msg string, errs ...error) huma.StatusError {
	if status == http.StatusBadRequest {
		// huma's 400s are bodies that are not JSON or missing: input errors,
		// which the contract reports as 422.
		status = http.StatusUnprocessableEntity
	}
	var details []Detail
	var parts []string
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			ed := d.ErrorDetail()
			loc := ParseLocation(ed.Location)
			if name, ok := strings.CutPrefix(ed.Message, "expected required property "); ok {
				loc = append(loc, strings.TrimSuffix(name, " to be present"))
			}
			details = append(details, Detail{Loc: loc, Msg: ed.Message, Type: detailType(status)})
			if ed.Location != "" {
				parts = append(parts, locString(loc)+": "+ed.Message)
			} else {
				parts = append(parts, ed.Message)
			}
			continue
		}
		var se huma.StatusError
		if errors.As(err, &se) && se.GetStatus() != 0 {
			status = se.GetStatus()
		}
		parts = append(parts, err.Error())
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	desc := msg
	if len(parts) > 0 {
		if desc != "" {
			desc += ": "
		}
		desc += strings.Join(parts, "; ")
	}
	if desc == "" {
		desc = http.StatusText(status)
	}
	e := New(status, desc)
	e.Data.Detail = details
	return e
}

func detailType(status int) string {
	if status == http.StatusUnprocessableEntity || status == http.StatusBadRequest {
		return "value_error"
	}
	return "error"
}

// ParseLocation turns huma's "body.jobs[0].runs" into ["body", "jobs", 0, "runs"].
func ParseLocation(s string) []any {
	if s == "" {
		return []any{}
	}
	var out []any
	for _, part := range strings.Split(s, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			if n, err := strconv.Atoi(idx); err == nil {
				out = append(out, n)
			} else {
				out = append(out, idx)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return out
}

func locString(loc []any) string {
	var b strings.Builder
	for i, p := range loc {
		switch v := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}
