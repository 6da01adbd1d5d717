package batchrunner

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrLeaseLost stops a runner whose Lease was taken by someone else or could
// not be renewed in time: the manager may already have started another
// runner, so this one must not write anything more.
var ErrLeaseLost = errors.New("runner lease lost")

// leaseKeeper renews the runner's Lease while it holds it.
type leaseKeeper struct {
	c        client.Client
	key      client.ObjectKey
	holder   string
	duration time.Duration
	now      func() time.Time
}

// renew renews the Lease once; ErrLeaseLost when another holder has it.
func (l *leaseKeeper) renew(ctx context.Context) error {
	lease := &coordinationv1.Lease{}
	if err := l.c.Get(ctx, l.key, lease); err != nil {
		return fmt.Errorf("reading lease %s: %w", l.key, err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != l.holder {
		return fmt.Errorf("%w: %s is held by %q", ErrLeaseLost, l.key, deref(lease.Spec.HolderIdentity))
	}
	lease.Spec.RenewTime = &metav1.MicroTime{Time: l.now()}
	if err := l.c.Update(ctx, lease); err != nil {
		return fmt.Errorf("renewing lease %s: %w", l.key, err)
	}
	return nil
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
	lease := &coordinationv1.Lease{}
	if err := l.c.Get(ctx, l.key, lease); err != nil {
		return client.IgnoreNotFound(err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != l.holder {
		return nil
	}
	lease.Spec.RenewTime = &metav1.MicroTime{Time: l.now().Add(-2*l.duration - time.Second)}
	return l.c.Update(ctx, lease)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
