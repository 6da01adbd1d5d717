// Package auth asks Kubernetes who a bearer token belongs to (TokenReview) and
// what they may do (SubjectAccessReview), caching both answers briefly.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// ErrUnauthenticated means the token was refused by the cluster.
var ErrUnauthenticated = errors.New("invalid or expired bearer token")

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

// Reviewer authenticates tokens and authorizes requests through the cluster.
type Reviewer struct {
	c   client.Client
	ttl time.Duration

	mu     sync.Mutex
	tokens map[[32]byte]tokenEntry
	grants map[string]grantEntry
}

type tokenEntry struct {
	user    *User
	err     error
	expires time.Time
}

type grantEntry struct {
	allowed bool
	expires time.Time
}

// maxEntries bounds each cache; when full, expired entries go first, then all.
const maxEntries = 10000

// NewReviewer returns a Reviewer that creates TokenReviews and
// SubjectAccessReviews with c and remembers their answers for ttl.
func NewReviewer(c client.Client, ttl time.Duration) *Reviewer {
	return &Reviewer{c: c, ttl: ttl, tokens: map[[32]byte]tokenEntry{}, grants: map[string]grantEntry{}}
}

// Authenticate returns the user a bearer token belongs to, or ErrUnauthenticated.
func (r *Reviewer) Authenticate(ctx context.Context, token string) (*User, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	r.mu.Lock()
	if e, ok := r.tokens[key]; ok && now.Before(e.expires) {
		r.mu.Unlock()
		return e.user, e.err
	}
	r.mu.Unlock()

	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}
	if err := r.c.Create(ctx, tr); err != nil {
		return nil, fmt.Errorf("reviewing the token: %w", err)
	}
	var e tokenEntry
	if tr.Status.Authenticated && tr.Status.User.Username != "" {
		extra := map[string]authorizationv1.ExtraValue{}
		for k, v := range tr.Status.User.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		e.user = &User{Name: tr.Status.User.Username, UID: tr.Status.User.UID, Groups: tr.Status.User.Groups, Extra: extra}
	} else {
		e.err = ErrUnauthenticated
	}
	e.expires = now.Add(r.ttl)
	r.mu.Lock()
	if len(r.tokens) >= maxEntries {
		for k, v := range r.tokens {
			if now.After(v.expires) {
				delete(r.tokens, k)
			}
		}
		if len(r.tokens) >= maxEntries {
			r.tokens = map[[32]byte]tokenEntry{}
		}
	}
	r.tokens[key] = e
	r.mu.Unlock()
	return e.user, e.err
}

// Allowed reports whether the user may do what a says, on the Tweezer API group.
func (r *Reviewer) Allowed(ctx context.Context, u *User, a Attributes) (bool, error) {
	key := grantKey(u, a)
	now := time.Now()
	r.mu.Lock()
	if e, ok := r.grants[key]; ok && now.Before(e.expires) {
		r.mu.Unlock()
		return e.allowed, nil
	}
	r.mu.Unlock()

	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace:   a.Namespace,
			Verb:        a.Verb,
			Group:       quantumv1alpha1.GroupVersion.Group,
			Resource:    a.Resource,
			Subresource: a.Subresource,
		},
	}}
	if err := r.c.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("reviewing access: %w", err)
	}
	allowed := sar.Status.Allowed && !sar.Status.Denied
	r.mu.Lock()
	if len(r.grants) >= maxEntries {
		for k, v := range r.grants {
			if now.After(v.expires) {
				delete(r.grants, k)
			}
		}
		if len(r.grants) >= maxEntries {
			r.grants = map[string]grantEntry{}
		}
	}
	r.grants[key] = grantEntry{allowed: allowed, expires: now.Add(r.ttl)}
	r.mu.Unlock()
	return allowed, nil
}

func grantKey(u *User, a Attributes) string {
	groups := append([]string(nil), u.Groups...)
	sort.Strings(groups)
	return strings.Join([]string{u.Name, u.UID, strings.Join(groups, ","), a.Verb, a.Resource, a.Subresource, a.Namespace}, "\x00")
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
