package server

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tweezer-dev/tweezer/apiserver/auth"
	"github.com/tweezer-dev/tweezer/apiserver/budget"
	"github.com/tweezer-dev/tweezer/apiserver/handlers"
)

// charged says whether a request is charged to its project's write budget:
// a write (not GET, HEAD or OPTIONS) other than a worker's report, which is
// the platform's own traffic (a tenant must not be able to hold up the
// runners' status and results by spending its budget).
func charged(method string, tags []string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return !slices.Contains(tags, "workers")
}

// chargeWrites opens the budget account of each charged request, which the
// handlers' client charges at its first write to a project. A user refused
// earlier who writes again before the Retry-After it was given is refused
// before its body is read (awaitHold): a client that ignores Retry-After
// and resends a large body costs the facade no decoding. So is a large
// body sent beside the user's others, once one of them has spent what its
// project holds. A write answered 4xx for another reason (validation,
// authorization, a full quota) is charged to its user's refused writes,
// which hold the user once used up.
func chargeWrites(api huma.API, h *handlers.Handlers, writes *budget.Budget) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		u := auth.UserFrom(ctx.Context())
		if u == nil || !charged(ctx.Method(), ctx.Operation().Tags) {
			next(ctx)
			return
		}
		declared, _ := strconv.ParseInt(ctx.Header("Content-Length"), 10, 64)
		r, read, done := awaitHold(ctx.Context(), writes, u.Name, declared)
		if r != nil {
			budget.Count(r, "held")
			ctx.SetHeader("Retry-After", strconv.Itoa(r.Seconds()))
			_ = huma.WriteErr(api, ctx, http.StatusTooManyRequests, r.Error())
			return
		}
		defer func() { done(now()) }()
		body, _ := ctx.Context().Value(bodyKey{}).(*atomic.Int64)
		if body == nil {
			body = new(atomic.Int64)
		}
		req := writes.NewRequest(u.Name, body, read, now, h.Log)
		defer req.End()
		next(huma.WithContext(ctx, budget.WithRequest(ctx.Context(), req)))
		if s := ctx.Status(); s >= 400 && s < 500 && s != http.StatusTooManyRequests {
			if r := writes.Refused(now(), u.Name); r != nil {
				h.Log.Info("user held: too many refused writes", "user", u.Name, "status", s, "operation", ctx.Operation().OperationID, "retryAfter", r.Seconds())
			}
		}
	}
}

// heldPause is the longest a held user's write waits for its hold to end
// before it is refused, and the longest a write waits for its user's other
// bodies to be read (budget.Read) before it is read anyway.
const heldPause = time.Second

// awaitHold returns the refusal user is held by, after waiting up to
// heldPause for it to end; or nil, when it did or the user is not held,
// with the func that gives back the write's place among its user's bodies
// being read and the func to call when the write has ended (budget.Read,
// budget.Admit; declared is the body's Content-Length, its compressed size
// for a gzip body). The pause keeps a client that ignores Retry-After
// from making the facade answer thousands of refusals a second: each of
// its connections gets at most one per heldPause.
func awaitHold(ctx context.Context, writes *budget.Budget, user string, declared int64) (*budget.Refusal, func(), func(time.Time)) {
	for waited := false; ; waited = true {
		read := readTurn(ctx, writes, user, declared)
		r, done := writes.Admit(now(), user, declared)
		if r == nil {
			return nil, read, done
		}
		read()
		if waited {
			return r, nil, nil
		}
		t := time.NewTimer(min(r.RetryAfter, heldPause))
		select {
		case <-ctx.Done():
			t.Stop()
			return r, nil, nil
		case <-t.C:
		}
	}
}

// readTurn waits, up to heldPause, for user's other bodies being read to
// leave room for this one (budget.Read), and returns the func that gives
// its place back. Past heldPause, or once the request has ended, the write
// goes ahead without one (an ended request fails at its first read of the
// body).
func readTurn(ctx context.Context, writes *budget.Budget, user string, declared int64) func() {
	wctx, cancel := context.WithTimeout(ctx, heldPause)
	defer cancel()
	if read, err := writes.Read(wctx, user, declared); err == nil {
		return read
	}
	return func() {}
}

type bodyKey struct{}

// countBody counts the bytes read of each request body (after gzip
// decompression), which the write budget charges.
func countBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		n := new(atomic.Int64)
		r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, n))
		r.Body = countingBody{r.Body, n}
		next.ServeHTTP(w, r)
	})
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.n.Add(int64(k))
	return k, err
}
