package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// stubCluster answers reviews as a cluster would and counts them: tokens
// "valid-*" belong to a user of that name, bound to audience "tweezer"
// (and the cluster's own), every other token is refused; everything is
// allowed in namespace "mine", and in "facade-only" what is asked of
// FacadeGroup. release, when
// set, holds every TokenReview until it is closed.
type stubCluster struct {
	tokenReviews, accessReviews atomic.Int32
	release                     chan struct{}
	fail                        error
}

func (s *stubCluster) Create(ctx context.Context, obj client.Object, _ ...client.CreateOption) error {
	switch o := obj.(type) {
	case *authenticationv1.TokenReview:
		s.tokenReviews.Add(1)
		if s.release != nil {
			select {
			case <-s.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if s.fail != nil {
			return s.fail
		}
		if name, ok := cutPrefix(o.Spec.Token, "valid-"); ok {
			o.Status.Authenticated = true
			o.Status.User.Username = name
			bound := []string{"https://kubernetes.default.svc", "tweezer"}
			if len(o.Spec.Audiences) == 0 {
				o.Status.Audiences = bound[:1]
			}
			for _, a := range o.Spec.Audiences {
				for _, b := range bound {
					if a == b {
						o.Status.Audiences = append(o.Status.Audiences, a)
					}
				}
			}
			o.Status.Authenticated = len(o.Status.Audiences) > 0 || len(o.Spec.Audiences) > 0
		}
	case *authorizationv1.SubjectAccessReview:
		s.accessReviews.Add(1)
		ra := o.Spec.ResourceAttributes
		o.Status.Allowed = ra.Namespace == "mine" || (ra.Namespace == "facade-only" && ra.Group == FacadeGroup)
	default:
		return fmt.Errorf("unexpected %T", obj)
	}
	return nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

// fakeClock is the Reviewer's clock in these tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newTestReviewer(s *stubCluster, o Options) (*Reviewer, *fakeClock) {
	r := NewReviewer(s, o)
	c := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	r.now = c.now
	return r, c
}

func TestConcurrentCallersShareOneTokenReview(t *testing.T) {
	s := &stubCluster{release: make(chan struct{})}
	r, _ := newTestReviewer(s, DefaultOptions())
	const callers = 50
	var wg sync.WaitGroup
	users := make(chan *User, callers)
	for range callers {
		wg.Go(func() {
			u, err := r.Authenticate(context.Background(), "10.0.0.1", "valid-alice")
			if err != nil {
				t.Error(err)
			}
			users <- u
		})
	}
	// Let every caller reach the review in flight before it answers.
	for s.tokenReviews.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(s.release)
	wg.Wait()
	close(users)
	for u := range users {
		if u == nil || u.Name != "alice" {
			t.Fatalf("a caller got %+v", u)
		}
	}
	if n := s.tokenReviews.Load(); n != 1 {
		t.Fatalf("%d TokenReviews for one token presented %d times at once, want 1", n, callers)
	}
	if _, err := r.Authenticate(context.Background(), "10.0.0.1", "valid-alice"); err != nil || s.tokenReviews.Load() != 1 {
		t.Fatalf("a later caller within the TTL: %v, %d reviews", err, s.tokenReviews.Load())
	}
}

// A caller that gives up does not fail the others waiting for the same review.
func TestAGivingUpCallerDoesNotFailTheReview(t *testing.T) {
	s := &stubCluster{release: make(chan struct{})}
	r, _ := newTestReviewer(s, DefaultOptions())
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := r.Authenticate(ctx, "10.0.0.1", "valid-alice")
		first <- err
	}()
	for s.tokenReviews.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan *User, 1)
	go func() {
		u, _ := r.Authenticate(context.Background(), "10.0.0.2", "valid-alice")
		second <- u
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up: %v", err)
	}
	close(s.release)
	if u := <-second; u == nil || u.Name != "alice" {
		t.Fatalf("the caller that waited got %+v", u)
	}
}

func TestFailedAuthenticationsAreRateLimitedPerClient(t *testing.T) {
	s := &stubCluster{}
	r, clock := newTestReviewer(s, Options{TTL: time.Minute, FailureRate: 0.5, FailureBurst: 3})
	ctx := context.Background()
	// Alice authenticates before the flood from her address.
	if _, err := r.Authenticate(ctx, "10.0.0.1", "valid-alice"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := r.Authenticate(ctx, "10.0.0.1", fmt.Sprintf("bogus-%d", i)); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	reviews := s.tokenReviews.Load()
	var limited *RateLimitError
	for i := range 100 {
		_, err := r.Authenticate(ctx, "10.0.0.1", fmt.Sprintf("flood-%d", i))
		if !errors.As(err, &limited) {
			t.Fatalf("flood %d: %v, want a RateLimitError", i, err)
		}
	}
	if limited.RetryAfter != 2*time.Second {
		t.Errorf("retry after %s, want 2s (one try at 0.5/s)", limited.RetryAfter)
	}
	if n := s.tokenReviews.Load(); n != reviews {
		t.Fatalf("the rate-limited flood cost %d TokenReviews", n-reviews)
	}
	// Refused tokens already known count too; known good ones still pass.
	if _, err := r.Authenticate(ctx, "10.0.0.1", "bogus-0"); !errors.As(err, &limited) {
		t.Fatalf("a known bad token while limited: %v", err)
	}
	if u, err := r.Authenticate(ctx, "10.0.0.1", "valid-alice"); err != nil || u.Name != "alice" {
		t.Fatalf("a cached valid token while limited: %v", err)
	}
	// Another client is not limited.
	if u, err := r.Authenticate(ctx, "10.0.0.2", "valid-bob"); err != nil || u.Name != "bob" {
		t.Fatalf("another client: %v", err)
	}
	// The client regains one try every 2s.
	clock.advance(2 * time.Second)
	if _, err := r.Authenticate(ctx, "10.0.0.1", "bogus-again"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("after 2s: %v, want one more try", err)
	}
	if _, err := r.Authenticate(ctx, "10.0.0.1", "valid-carol"); !errors.As(err, &limited) {
		t.Fatalf("right after that try: %v", err)
	}
	clock.advance(2 * time.Second)
	if u, err := r.Authenticate(ctx, "10.0.0.1", "valid-carol"); err != nil || u.Name != "carol" {
		t.Fatalf("a valid token after the wait: %v", err)
	}
}

func TestRateLimitCanBeDisabled(t *testing.T) {
	s := &stubCluster{}
	r, _ := newTestReviewer(s, Options{TTL: time.Minute, FailureRate: 0, FailureBurst: 3})
	for i := range 20 {
		if _, err := r.Authenticate(context.Background(), "10.0.0.1", fmt.Sprint("bogus-", i)); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
}

// A full cache evicts its least recently used token, not every token.
func TestTokenCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	s := &stubCluster{}
	r, clock := newTestReviewer(s, Options{TTL: time.Minute, MaxEntries: 3})
	ctx := context.Background()
	auth := func(tok string) {
		t.Helper()
		if _, err := r.Authenticate(ctx, "10.0.0.1", tok); err != nil {
			t.Fatal(err)
		}
	}
	auth("valid-a")
	auth("valid-b")
	auth("valid-c")
	auth("valid-a") // a is now the most recently used
	if n := s.tokenReviews.Load(); n != 3 {
		t.Fatalf("%d reviews, want 3", n)
	}
	auth("valid-d") // evicts b
	auth("valid-a")
	auth("valid-c")
	auth("valid-d")
	if n := s.tokenReviews.Load(); n != 4 {
		t.Fatalf("%d reviews after d: the cache dropped more than the least recently used", n)
	}
	auth("valid-b")
	if n := s.tokenReviews.Load(); n != 5 {
		t.Fatalf("%d reviews, want b reviewed again", n)
	}
	if r.tokens.len() != 3 {
		t.Fatalf("%d entries, want the bound 3", r.tokens.len())
	}
	clock.advance(time.Minute)
	auth("valid-b")
	if n := s.tokenReviews.Load(); n != 6 {
		t.Fatalf("%d reviews: an expired entry was reused", n)
	}
}

func TestAccessCacheIsBoundedAndExpires(t *testing.T) {
	s := &stubCluster{}
	r, clock := newTestReviewer(s, Options{TTL: time.Minute, MaxEntries: 2})
	u := &User{Name: "alice"}
	ctx := context.Background()
	ask := func(ns string, want bool) {
		t.Helper()
		if ok, err := r.Allowed(ctx, u, Attributes{Verb: "get", Resource: "batches", Namespace: ns}); err != nil || ok != want {
			t.Fatalf("%s: %v, %v", ns, ok, err)
		}
	}
	ask("mine", true)
	ask("theirs", false)
	ask("mine", true)
	if n := s.accessReviews.Load(); n != 2 {
		t.Fatalf("%d access reviews, want 2", n)
	}
	ask("other", false) // evicts theirs
	ask("mine", true)
	if n := s.accessReviews.Load(); n != 3 {
		t.Fatalf("%d access reviews: mine was evicted", n)
	}
	clock.advance(time.Minute)
	ask("mine", true)
	if n := s.accessReviews.Load(); n != 4 {
		t.Fatalf("%d access reviews: an expired answer was reused", n)
	}
}

func TestAudiences(t *testing.T) {
	ctx := context.Background()
	s := &stubCluster{}
	r, _ := newTestReviewer(s, Options{TTL: time.Minute, Audiences: []string{"tweezer"}})
	if u, err := r.Authenticate(ctx, "10.0.0.1", "valid-alice"); err != nil || u.Name != "alice" {
		t.Fatalf("a token bound to the audience: %v", err)
	}
	r, _ = newTestReviewer(s, Options{TTL: time.Minute, Audiences: []string{"another-service"}})
	if _, err := r.Authenticate(ctx, "10.0.0.1", "valid-alice"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a token not bound to the audience: %v", err)
	}
}

// An API outage is not a failed authentication: it is neither cached nor
// counted against the client.
func TestReviewErrorsAreNotFailures(t *testing.T) {
	s := &stubCluster{fail: errors.New("connection refused")}
	r, _ := newTestReviewer(s, Options{TTL: time.Minute, FailureRate: 1, FailureBurst: 1})
	for range 3 {
		if _, err := r.Authenticate(context.Background(), "10.0.0.1", "valid-alice"); err == nil || errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("an outage: %v", err)
		}
	}
	s.fail = nil
	if u, err := r.Authenticate(context.Background(), "10.0.0.1", "valid-alice"); err != nil || u.Name != "alice" {
		t.Fatalf("after the outage: %v", err)
	}
}

func TestAWriteGrantedOnTheFacadeGroupIsAllowed(t *testing.T) {
	s := &stubCluster{}
	r, _ := newTestReviewer(s, Options{TTL: time.Minute})
	u := &User{Name: "fay"}
	ctx := context.Background()
	ask := func(verb string, want bool, reviews int32) {
		t.Helper()
		ok, err := r.Allowed(ctx, u, Attributes{Verb: verb, Resource: "batches", Namespace: "facade-only"})
		if err != nil || ok != want {
			t.Fatalf("%s: %v, %v; want %v", verb, ok, err, want)
		}
		if n := s.accessReviews.Load(); n != reviews {
			t.Fatalf("%s: %d access reviews so far, want %d", verb, n, reviews)
		}
	}
	// A write: denied on the Tweezer group, granted on the facade's.
	ask("create", true, 2)
	ask("create", true, 2) // both answers cached
	// A read is asked of the Tweezer group only.
	ask("get", false, 3)
	ask("update", true, 5)
}
