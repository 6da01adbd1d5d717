package batchrunner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrLeaseLost stops a runner whose Lease was taken by someone else or could
// not be renewed in time: the manager may already have started another
// runner, so this one must not write anything more.
var ErrLeaseLost = errors.New("runner lease lost")

// leaseKeeper renews the runner's Lease while it holds it. It writes on the
// version of the Lease it read or wrote last and reads again only after a
// conflict, so a renewal is one request.
type leaseKeeper struct {
	c        client.Client
	key      client.ObjectKey
	holder   string
	duration time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last *coordinationv1.Lease // the latest version this runner saw
}

// acquire checks that this runner holds the Lease and renews it unless the
// manager renewed it for the runner a moment ago (it does when it starts one).
func (l *leaseKeeper) acquire(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	lease, err := l.read(ctx)
	if err != nil {
		return err
	}
	if r := lease.Spec.RenewTime; r != nil && l.now().Sub(r.Time) < l.duration/4 {
		return nil
	}
	return l.update(ctx, func(le *coordinationv1.Lease) { le.Spec.RenewTime = &metav1.MicroTime{Time: l.now()} })
}

// renew renews the Lease once; ErrLeaseLost when another holder has it.
func (l *leaseKeeper) renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.update(ctx, func(le *coordinationv1.Lease) { le.Spec.RenewTime = &metav1.MicroTime{Time: l.now()} })
}

// read gets the Lease and checks that this runner holds it. l.mu is held.
func (l *leaseKeeper) read(ctx context.Context) (*coordinationv1.Lease, error) {
	lease := &coordinationv1.Lease{}
	if err := l.c.Get(ctx, l.key, lease); err != nil {
		return nil, fmt.Errorf("reading lease %s: %w", l.key, err)
	}
	l.last = lease
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != l.holder {
		return nil, fmt.Errorf("%w: %s is held by %q", ErrLeaseLost, l.key, deref(lease.Spec.HolderIdentity))
	}
	return lease, nil
}

// update writes set on the last version seen; after a conflict it reads the
// Lease again (still ours?) and tries once more. l.mu is held.
func (l *leaseKeeper) update(ctx context.Context, set func(*coordinationv1.Lease)) error {
	for attempt := 0; ; attempt++ {
		var lease *coordinationv1.Lease
		if l.last != nil && attempt == 0 {
			lease = l.last.DeepCopy()
		} else {
			var err error
			if lease, err = l.read(ctx); err != nil {
				return err
			}
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != l.holder {
			return fmt.Errorf("%w: %s is held by %q", ErrLeaseLost, l.key, deref(lease.Spec.HolderIdentity))
		}
		set(lease)
		err := l.c.Update(ctx, lease)
		if err == nil {
			l.last = lease
			return nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return fmt.Errorf("renewing lease %s: %w", l.key, err)
		}
	}
}

// A runner rides out an API outage: it renews often (renewEvery), tries
// again soon after a failed renewal (retryEvery), and stops only when its
// last renewal is validFor old, a quarter of the duration before the manager
// may judge the Lease expired (the margin covers clock skew and stopping).
// At the default duration of 60 s it renews every 5 s and keeps running
// through an outage of up to about 39 s.

// renewEvery is the time between two renewals of a Lease of duration d.
func renewEvery(d time.Duration) time.Duration { return min(d/4, 5*time.Second) }

// retryEvery is the time between two tries after a failed renewal.
func retryEvery(d time.Duration) time.Duration { return min(renewEvery(d), time.Second) }

// validFor is how long after its last renewal a runner may still write.
func validFor(d time.Duration) time.Duration { return d * 3 / 4 }

// renewed is the renew time of the last version of the Lease this runner
// saw itself holding. l.mu is held.
func (l *leaseKeeper) renewed() time.Time {
	if l.last == nil || l.last.Spec.RenewTime == nil {
		return time.Time{}
	}
	return l.last.Spec.RenewTime.Time
}

// keep renews the Lease until ctx ends. It calls lost (once) when the Lease
// goes to another holder, or when no renewal succeeded within validFor of
// the last one (a renewal that hangs is cut off then), so that this runner
// stops before the manager may consider the Lease expired.
func (l *leaseKeeper) keep(ctx context.Context, lost func(error)) {
	l.mu.Lock()
	last := l.renewed()
	l.mu.Unlock()
	timer := time.NewTimer(renewEvery(l.duration))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		deadline := last.Add(validFor(l.duration))
		rctx, cancel := context.WithDeadline(ctx, deadline)
		err := l.renew(rctx)
		cancel()
		wait := renewEvery(l.duration)
		switch {
		case err == nil:
			l.mu.Lock()
			last = l.renewed()
			l.mu.Unlock()
		case errors.Is(err, ErrLeaseLost):
			lost(err)
			return
		case ctx.Err() != nil:
			return
		case !l.now().Before(deadline):
			lost(fmt.Errorf("%w: not renewed since %s: %v", ErrLeaseLost, last.UTC().Format(time.RFC3339), err))
			return
		default:
			wait = min(retryEvery(l.duration), deadline.Sub(l.now()))
		}
		timer.Reset(wait)
	}
}

// release gives the Lease up if this runner still holds it: it marks it
// expired now, keeping the holder, so that the manager reads "this runner
// ended" and the next batch may take a QPU's Lease at once. An API server
// that does not answer is tried again while the Lease is valid.
func (l *leaseKeeper) release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithDeadline(ctx, l.renewed().Add(validFor(l.duration)))
	defer cancel()
	err := untilAnswered(ctx, func() error {
		return l.update(ctx, func(le *coordinationv1.Lease) {
			le.Spec.RenewTime = &metav1.MicroTime{Time: l.now().Add(-2*l.duration - time.Second)}
		})
	})
	if errors.Is(err, ErrLeaseLost) || apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		// Someone else holds it, it is gone, or this runner may no longer
		// touch it: the manager, seeing the batch finished, took it back
		// and revoked the runner account's access to a QPU's Lease, maybe
		// before this runner's last write. Nothing to give up.
		return nil
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
