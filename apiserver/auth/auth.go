// Package auth asks Kubernetes who a bearer token belongs to (TokenReview) and
// what they may do (SubjectAccessReview), caching both answers briefly.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// ErrUnauthenticated means the token was refused by the cluster.
var ErrUnauthenticated = errors.New("invalid or expired bearer token")

// RateLimitError refuses a token from a client that failed to authenticate
// too often; no TokenReview was made.
type RateLimitError struct {
	// RetryAfter is how long until the client may try again.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed authentications from this client: retry in %s", e.RetryAfter.Round(time.Second))
}

// User is an authenticated caller.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string]authorizationv1.ExtraValue
}

// Attributes is what a caller wants to do: a verb on a Tweezer resource,
// in a namespace (empty: cluster-wide).
type Attributes struct {
	Verb        string
	Resource    string
	Subresource string
	Namespace   string
}

// Creator creates TokenReviews and SubjectAccessReviews (a client.Client).
type Creator interface {
	Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error
}

// Options tune a Reviewer.
type Options struct {
	// TTL is how long a review's answer is reused.
	TTL time.Duration
	// MaxEntries bounds each cache (tokens, grants, failing clients); the
	// least recently used entry goes first.
	MaxEntries int
	// Audiences, when set, are the TokenReviews' audiences: a token is
	// accepted only when the cluster says it is bound to one of them.
	Audiences []string
	// FailureRate and FailureBurst limit the failed authentications of one
	// client: after FailureBurst failures, it gets FailureRate more per
	// second, and its other unknown tokens are refused without a
	// TokenReview. A FailureBurst or FailureRate of 0 disables the limit.
	FailureRate  rate.Limit
	FailureBurst int
}

// DefaultOptions are the facade's defaults.
func DefaultOptions() Options {
	return Options{TTL: 10 * time.Second, MaxEntries: 10000, FailureRate: 1, FailureBurst: 20}
}

// reviewTimeout bounds one TokenReview, which every caller presenting the
// same token waits for.
const reviewTimeout = 10 * time.Second

// Reviewer authenticates tokens and authorizes requests through the cluster.
type Reviewer struct {
	c    Creator
	opts Options
	now  func() time.Time

	// flights makes one TokenReview per token at a time; the others presenting
	// it wait for its answer.
	flights singleflight.Group

	mu       sync.Mutex
	tokens   *lru[[32]byte, tokenEntry]
	grants   *lru[string, bool]
	failures *lru[string, *rate.Limiter]
}

type tokenEntry struct {
	user *User
	err  error
}

// NewReviewer returns a Reviewer that creates TokenReviews and
// SubjectAccessReviews with c and remembers their answers for o.TTL.
func NewReviewer(c Creator, o Options) *Reviewer {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultOptions().MaxEntries
	}
	if o.FailureRate <= 0 {
		o.FailureBurst = 0
	}
	return &Reviewer{
		c: c, opts: o, now: time.Now,
		tokens:   newLRU[[32]byte, tokenEntry](o.MaxEntries),
		grants:   newLRU[string, bool](o.MaxEntries),
		failures: newLRU[string, *rate.Limiter](o.MaxEntries),
	}
}

// Authenticate returns the user a bearer token belongs to, or
// ErrUnauthenticated. A client (its address) whose failures exceed the
// limit gets a *RateLimitError for tokens not already known to be valid.
func (r *Reviewer) Authenticate(ctx context.Context, clientID, token string) (*User, error) {
	key := sha256.Sum256([]byte(token))
	now := r.now()
	r.mu.Lock()
	e, cached := r.tokens.get(key, now)
	if cached && e.err == nil {
		r.mu.Unlock()
		return e.user, nil
	}
	if wait := r.blockedLocked(clientID, now); wait > 0 {
		r.mu.Unlock()
		return nil, &RateLimitError{RetryAfter: wait}
	}
	if cached {
		r.failedLocked(clientID, now)
		r.mu.Unlock()
		return nil, e.err
	}
	r.mu.Unlock()

	e, err := r.review(ctx, key, token)
	if err != nil {
		return nil, err
	}
	if e.err != nil {
		r.mu.Lock()
		r.failedLocked(clientID, r.now())
		r.mu.Unlock()
	}
	return e.user, e.err
}

// review makes the token's TokenReview, or waits for the one in flight, and
// caches its answer. The review runs apart from ctx (one caller giving up
// does not fail the others), bounded by reviewTimeout.
func (r *Reviewer) review(ctx context.Context, key [32]byte, token string) (tokenEntry, error) {
	ch := r.flights.DoChan(string(key[:]), func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reviewTimeout)
		defer cancel()
		tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: r.opts.Audiences}}
		if err := r.c.Create(rctx, tr); err != nil {
			return tokenEntry{}, fmt.Errorf("reviewing the token: %w", err)
		}
		var e tokenEntry
		if tr.Status.Authenticated && tr.Status.User.Username != "" && r.audienceOK(tr.Status.Audiences) {
			extra := map[string]authorizationv1.ExtraValue{}
			for k, v := range tr.Status.User.Extra {
				extra[k] = authorizationv1.ExtraValue(v)
			}
			e.user = &User{Name: tr.Status.User.Username, UID: tr.Status.User.UID, Groups: tr.Status.User.Groups, Extra: extra}
		} else {
			e.err = ErrUnauthenticated
		}
		r.mu.Lock()
		r.tokens.add(key, e, r.now().Add(r.opts.TTL))
		r.mu.Unlock()
		return e, nil
	})
	select {
	case <-ctx.Done():
		return tokenEntry{}, fmt.Errorf("reviewing the token: %w", context.Cause(ctx))
	case res := <-ch:
		if res.Err != nil {
			return tokenEntry{}, res.Err
		}
		return res.Val.(tokenEntry), nil
	}
}

// audienceOK reports whether the audiences the cluster returned include one
// the Reviewer asked for (always, when it asked for none).
func (r *Reviewer) audienceOK(got []string) bool {
	if len(r.opts.Audiences) == 0 {
		return true
	}
	for _, a := range got {
		if slices.Contains(r.opts.Audiences, a) {
			return true
		}
	}
	return false
}

// blockedLocked returns how long the client must wait before its next
// authentication, 0 when it need not.
func (r *Reviewer) blockedLocked(clientID string, now time.Time) time.Duration {
	if r.opts.FailureBurst <= 0 {
		return 0
	}
	lim, ok := r.failures.get(clientID, now)
	if !ok {
		return 0
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(r.opts.FailureRate) * float64(time.Second))
}

// failedLocked counts one failed authentication of the client.
func (r *Reviewer) failedLocked(clientID string, now time.Time) {
	if r.opts.FailureBurst <= 0 {
		return
	}
	lim, ok := r.failures.get(clientID, now)
	if !ok {
		lim = rate.NewLimiter(r.opts.FailureRate, r.opts.FailureBurst)
	}
	lim.AllowN(now, 1)
	// Once the limiter has refilled it is as good as a new one: forget it.
	refill := time.Duration(float64(r.opts.FailureBurst) / float64(r.opts.FailureRate) * float64(time.Second))
	r.failures.add(clientID, lim, now.Add(refill))
}

// FacadeGroup is an API group kube-apiserver does not serve. A role that
// grants a write on one of its resources lets a user make that write
// through the facade only (ClusterRole tweezer-user-facade): kube-apiserver
// refuses the user's own writes at authorization, before it reads their
// bodies, and the facade's write budget applies to every write the user
// makes.
const FacadeGroup = "facade.quantum.tweezer.dev"

// Allowed reports whether the user may do what a says through the facade:
// on the Tweezer API group, or, for a write, on FacadeGroup.
func (r *Reviewer) Allowed(ctx context.Context, u *User, a Attributes) (bool, error) {
	ok, err := r.grant(ctx, u, a, quantumv1alpha1.GroupVersion.Group)
	if err != nil || ok || !write(a.Verb) {
		return ok, err
	}
	return r.grant(ctx, u, a, FacadeGroup)
}

// write reports whether verb changes objects.
func write(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

// grant asks kube-apiserver whether the user may do what a says on the API
// group, and remembers the answer for the TTL.
func (r *Reviewer) grant(ctx context.Context, u *User, a Attributes, group string) (bool, error) {
	key := grantKey(u, a, group)
	r.mu.Lock()
	if allowed, ok := r.grants.get(key, r.now()); ok {
		r.mu.Unlock()
		return allowed, nil
	}
	r.mu.Unlock()

	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace:   a.Namespace,
			Verb:        a.Verb,
			Group:       group,
			Resource:    a.Resource,
			Subresource: a.Subresource,
		},
	}}
	if err := r.c.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("reviewing access: %w", err)
	}
	allowed := sar.Status.Allowed && !sar.Status.Denied
	r.mu.Lock()
	r.grants.add(key, allowed, r.now().Add(r.opts.TTL))
	r.mu.Unlock()
	return allowed, nil
}

func grantKey(u *User, a Attributes, group string) string {
	groups := append([]string(nil), u.Groups...)
	sort.Strings(groups)
	return strings.Join([]string{u.Name, u.UID, strings.Join(groups, ","), group, a.Verb, a.Resource, a.Subresource, a.Namespace}, "\x00")
}

// DisplayNameKeys are the keys of a token's user info (its "extra" fields,
// as the cluster's authenticator fills them, e.g. from OIDC claims mapped by
// the API server's structured authentication configuration) that hold a
// display name, in the order they are tried.
var DisplayNameKeys = []string{"name", "display_name", "displayName"}

// DisplayName is the user's display name from their token's user info, or
// their user name when it carries none.
func (u *User) DisplayName() string {
	for _, k := range DisplayNameKeys {
		if v := u.Extra[k]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return u.Name
}

type userKey struct{}

// WithUser returns a context carrying the authenticated user.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user that WithUser stored, or nil.
func UserFrom(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}
