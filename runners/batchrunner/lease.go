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

// keep renews every quarter of the lease duration until ctx ends. It calls
// lost (once) when the Lease goes to another holder or when no renewal has
// succeeded for three quarters of the duration, so that this runner stops
// before the manager may consider the Lease expired.
func (l *leaseKeeper) keep(ctx context.Context, lost func(error)) {
	last := l.now()
	tick := time.NewTicker(l.duration / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := l.renew(ctx)
		if err == nil {
			last = l.now()
			continue
		}
		if errors.Is(err, ErrLeaseLost) {
			lost(err)
			return
		}
		if l.now().Sub(last) > l.duration*3/4 {
			lost(fmt.Errorf("%w: %v", ErrLeaseLost, err))
			return
		}
	}
}

// release gives the Lease up if this runner still holds it: it marks it
// expired now, keeping the holder, so that the manager reads "this runner
// ended" and the next batch may take a QPU's Lease at once.
func (l *leaseKeeper) release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.update(ctx, func(le *coordinationv1.Lease) {
		le.Spec.RenewTime = &metav1.MicroTime{Time: l.now().Add(-2*l.duration - time.Second)}
	})
	if errors.Is(err, ErrLeaseLost) || apierrors.IsNotFound(err) {
		return nil // someone else holds it, or it is gone: nothing to give up
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
