package batchrunner

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// refused is what client-go returns when nothing listens at the API server's address.
var refused = &url.Error{Op: "Put", URL: "https://127.0.0.1:6443/apis", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}

func TestUnavailableTellsOutagesFromAnswers(t *testing.T) {
	gr := schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"503", apierrors.NewServiceUnavailable("starting"), true},
		{"500", apierrors.NewInternalError(errors.New("etcd")), true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"504", apierrors.NewTimeoutError("slow", 1), true},
		{"conflict", apierrors.NewConflict(gr, "l", errors.New("changed")), false},
		{"not found", apierrors.NewNotFound(gr, "l"), false},
		{"invalid", apierrors.NewBadRequest("no"), false},
		{"canceled", context.Canceled, false},
		{"deadline", &url.Error{Op: "Put", URL: "https://x", Err: context.DeadlineExceeded}, false},
		{"nil", nil, false},
		{"other", errors.New("encoding failed"), false},
	}
	for _, c := range cases {
		if got := unavailable(c.err); got != c.want {
			t.Errorf("%s: unavailable = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestUntilAnsweredRetriesOnlyAnOutageAndOnlyWhileTheContextLasts(t *testing.T) {
	calls := 0
	err := untilAnswered(context.Background(), func() error {
		calls++
		if calls < 3 {
			return refused
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("after two refusals: err %v after %d calls, want success at the third", err, calls)
	}

	calls = 0
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "jobs"}, "j", errors.New("changed"))
	if err := untilAnswered(context.Background(), func() error { calls++; return conflict }); err != conflict || calls != 1 {
		t.Errorf("an answer is returned at once: %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*retryFirst)
	defer cancel()
	start := time.Now()
	if err := untilAnswered(ctx, func() error { return refused }); err != refused {
		t.Errorf("at the context's end: %v, want the last error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("untilAnswered went on %s after its context ended", d)
	}
}

func TestRideOutArithmeticOfTheDefaultLease(t *testing.T) {
	const d = 60 * time.Second // runnerspec.DefaultLeaseDuration (an import cycle away)
	if renewEvery(d) != 5*time.Second || retryEvery(d) != time.Second || validFor(d) != 45*time.Second {
		t.Fatalf("renew every %s, retry every %s, valid for %s", renewEvery(d), retryEvery(d), validFor(d))
	}
	// The last renewal before an outage is at most renewEvery old; the first
	// after it at most retryEvery late.
	if rides := validFor(d) - renewEvery(d) - retryEvery(d); rides < 30*time.Second {
		t.Errorf("a runner rides out %s of outage, want at least 30s", rides)
	}
	if validFor(d) >= d {
		t.Error("a runner must stop writing before the manager may judge its lease expired")
	}
}

// TestLeaseKeeperRidesOutAnOutage runs keep against a real API server
// behind a switch that refuses every request: an outage shorter than the
// lease's validity passes without a loss and renewals resume; a longer one
// makes the runner stop, after validFor and not before.
func TestLeaseKeeperRidesOutAnOutage(t *testing.T) {
	ctx := context.Background()
	namespace(t, "outage")
	const d = 8 * time.Second // renew every 2 s, retry every 1 s, valid for 6 s
	var down atomic.Bool
	c := interceptor.NewClient(k8s, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if down.Load() {
				return refused
			}
			return c.Get(ctx, key, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if down.Load() {
				return refused
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	keeper := func(name string) *leaseKeeper {
		t.Helper()
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "outage", Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("runner-1"), RenewTime: &metav1.MicroTime{Time: time.Now()}}}
		if err := k8s.Create(ctx, lease); err != nil {
			t.Fatal(err)
		}
		k := &leaseKeeper{c: c, key: client.ObjectKeyFromObject(lease), holder: "runner-1", duration: d, now: time.Now}
		if err := k.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		return k
	}
	renewed := func(k *leaseKeeper) time.Time {
		t.Helper()
		lease := &coordinationv1.Lease{}
		if err := k8s.Get(ctx, k.key, lease); err != nil {
			t.Fatal(err)
		}
		return lease.Spec.RenewTime.Time
	}
	keep := func(k *leaseKeeper) (lost chan error, stop func()) {
		kctx, cancel := context.WithCancel(ctx)
		lost = make(chan error, 1)
		done := make(chan struct{})
		go func() { defer close(done); k.keep(kctx, func(err error) { lost <- err }) }()
		return lost, func() { cancel(); <-done }
	}

	t.Run("a short outage costs nothing", func(t *testing.T) {
		k := keeper("short")
		lost, stop := keep(k)
		defer stop()
		// Down right after a renewal, for half the validity: the runner
		// rides out validFor - retryEvery (5 s) from there.
		before := renewed(k)
		for renewed(k).Equal(before) {
			time.Sleep(20 * time.Millisecond)
		}
		down.Store(true)
		last := renewed(k)
		time.Sleep(validFor(d) / 2)
		down.Store(false)
		deadline := time.Now().Add(validFor(d))
		for !renewed(k).After(last) {
			select {
			case err := <-lost:
				t.Fatalf("the keeper gave up during a short outage: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("no renewal after the outage")
			}
			time.Sleep(20 * time.Millisecond)
		}
		select {
		case err := <-lost:
			t.Fatalf("the keeper gave up: %v", err)
		default:
		}
	})

	t.Run("a long outage stops the runner once the lease may be lost", func(t *testing.T) {
		k := keeper("long")
		lost, stop := keep(k)
		defer stop()
		down.Store(true)
		defer down.Store(false)
		last := renewed(k)
		select {
		case err := <-lost:
			if !errors.Is(err, ErrLeaseLost) {
				t.Errorf("lost with %v, want ErrLeaseLost", err)
			}
			if age := time.Since(last); age < validFor(d) || age > validFor(d)+retryEvery(d)+time.Second {
				t.Errorf("gave up %s after the last renewal, want at %s", age, validFor(d))
			}
		case <-time.After(d + 2*time.Second):
			t.Fatal("the keeper never gave up while the API server was down")
		}
	})
}
