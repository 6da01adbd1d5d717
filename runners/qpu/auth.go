package qpu

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
)

// Audience is the audience of the service-account tokens that runners send
// to a QPU gateway. A token minted for another audience (the API server's,
// another service's) is refused, and a token minted for the gateway is of no
// use anywhere else.
const Audience = "qpu.tweezer.dev"

// RunnerServiceAccount is the name of the service account whose tokens a
// TokenReviewer accepts by default (the manager's runner account in every
// project namespace).
const RunnerServiceAccount = "tweezer-runner"

// Authenticator turns a request's bearer token into the caller's identity.
// The gateway scopes jobs to that identity.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (identity string, err error)
}

// ErrUnauthenticated is a missing, invalid or refused token.
var ErrUnauthenticated = errors.New("unauthenticated")

// TokenReviewer authenticates runners by their service-account token: it asks
// the Kubernetes API server (TokenReview) whether the token is valid for
// Audience, and accepts only a runner account. The identity is the service
// account's user name, system:serviceaccount:<namespace>:<name>, so jobs are
// scoped to one project's runners.
type TokenReviewer struct {
	// Reviews creates TokenReviews (the caller needs "create" on
	// authentication.k8s.io/tokenreviews, e.g. system:auth-delegator).
	Reviews authenticationclient.TokenReviewInterface
	// Audience the token must be bound to; default Audience.
	Audience string
	// ServiceAccount is the only service-account name accepted; default
	// RunnerServiceAccount.
	ServiceAccount string
	// CacheFor is how long an accepted token is remembered (default 30 s), so
	// that a runner polling its job does not cost a review per request.
	CacheFor time.Duration

	mu    sync.Mutex
	cache map[[32]byte]cachedIdentity
}

type cachedIdentity struct {
	identity string
	until    time.Time
}

// Authenticate reviews the token.
func (t *TokenReviewer) Authenticate(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	t.mu.Lock()
	if c, ok := t.cache[key]; ok && now.Before(c.until) {
		t.mu.Unlock()
		return c.identity, nil
	}
	t.mu.Unlock()

	audience := t.Audience
	if audience == "" {
		audience = Audience
	}
	review, err := t.Reviews.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("reviewing the token: %w", err)
	}
	st := review.Status
	if !st.Authenticated {
		why := st.Error
		if why == "" {
			why = "the token is not valid"
		}
		return "", fmt.Errorf("%w: %s", ErrUnauthenticated, why)
	}
	if !slices.Contains(st.Audiences, audience) {
		return "", fmt.Errorf("%w: the token is not bound to audience %q", ErrUnauthenticated, audience)
	}
	sa := t.ServiceAccount
	if sa == "" {
		sa = RunnerServiceAccount
	}
	ns, name, ok := serviceAccount(st.User.Username)
	if !ok || name != sa {
		return "", fmt.Errorf("%w: %s is not a runner account", ErrUnauthenticated, st.User.Username)
	}
	identity := "system:serviceaccount:" + ns + ":" + name
	cacheFor := t.CacheFor
	if cacheFor <= 0 {
		cacheFor = 30 * time.Second
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cache == nil {
		t.cache = map[[32]byte]cachedIdentity{}
	}
	for k, c := range t.cache {
		if !now.Before(c.until) {
			delete(t.cache, k)
		}
	}
	t.cache[key] = cachedIdentity{identity: identity, until: now.Add(cacheFor)}
	return identity, nil
}

// serviceAccount splits a service account's user name.
func serviceAccount(user string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(user, "system:serviceaccount:")
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != ""
}
