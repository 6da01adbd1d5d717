package batchrunner

import (
	"context"
	"errors"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestLeaseKeeper runs the keeper against a real API server: it renews on
// the version it wrote last, survives an unrelated write, stops at once when
// the manager gives the Lease to another runner, releases by marking the
// Lease expired while keeping its holder, and ends quietly when the manager
// has already taken the Lease back and revoked its access.
func TestLeaseKeeper(t *testing.T) {
	c, ctx := k8s, context.Background()
	namespace(t, "lease")
	const d = 8 * time.Second
	take := func(name, holder string, renewed time.Time) *leaseKeeper {
		t.Helper()
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "lease", Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), RenewTime: &metav1.MicroTime{Time: renewed}}}
		if err := c.Create(ctx, lease); err != nil {
			t.Fatal(err)
		}
		return &leaseKeeper{c: c, key: client.ObjectKeyFromObject(lease), holder: "runner-1", duration: d, now: time.Now}
	}
	read := func(k *leaseKeeper) *coordinationv1.Lease {
		t.Helper()
		lease := &coordinationv1.Lease{}
		if err := c.Get(ctx, k.key, lease); err != nil {
			t.Fatal(err)
		}
		return lease
	}

	t.Run("acquire leaves a fresh renewal alone and renews a stale one", func(t *testing.T) {
		fresh := take("fresh", "runner-1", time.Now())
		rv := read(fresh).ResourceVersion
		if err := fresh.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		if got := read(fresh).ResourceVersion; got != rv {
			t.Errorf("a lease renewed a moment ago was written again (%s -> %s)", rv, got)
		}
		stale := take("stale", "runner-1", time.Now().Add(-d/2))
		if err := stale.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		if age := time.Since(read(stale).Spec.RenewTime.Time); age > d/4 {
			t.Errorf("a stale lease was not renewed: %s old", age)
		}
	})

	t.Run("acquire refuses a lease held by another runner", func(t *testing.T) {
		other := take("other", "runner-0", time.Now())
		if err := other.acquire(ctx); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("acquire = %v, want ErrLeaseLost", err)
		}
	})

	t.Run("renew survives an unrelated write and stops when the holder changes", func(t *testing.T) {
		k := take("renew", "runner-1", time.Now())
		if err := k.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		if err := k.renew(ctx); err != nil {
			t.Fatal(err)
		}
		// Someone labels the Lease: the keeper's version is stale, the holder unchanged.
		lease := read(k)
		lease.Labels = map[string]string{"touched": "yes"}
		if err := c.Update(ctx, lease); err != nil {
			t.Fatal(err)
		}
		if err := k.renew(ctx); err != nil {
			t.Fatalf("renew after an unrelated write: %v", err)
		}
		if read(k).Labels["touched"] != "yes" {
			t.Error("the renewal overwrote the other write")
		}
		// The manager hands the Lease to the next runner.
		lease = read(k)
		lease.Spec.HolderIdentity = ptr.To("runner-2")
		if err := c.Update(ctx, lease); err != nil {
			t.Fatal(err)
		}
		if err := k.renew(ctx); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("renew after the holder changed = %v, want ErrLeaseLost", err)
		}
		if h := *read(k).Spec.HolderIdentity; h != "runner-2" {
			t.Errorf("holder is %q, want runner-2", h)
		}
		if err := k.release(ctx); err != nil {
			t.Fatalf("release of a lost lease: %v", err)
		}
		if r := read(k).Spec.RenewTime; time.Since(r.Time) > d {
			t.Error("a runner released a lease it no longer holds")
		}
	})

	t.Run("release after the manager took the lease back and revoked the runner's access", func(t *testing.T) {
		// The runner acts as a user with a Role on the Leases of the
		// namespace (the admin impersonates it), as a runner account does
		// on its QPU's Lease in the manager's namespace.
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "lease", Name: "runner-leases"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{coordinationv1.GroupName}, Resources: []string{"leases"}, Verbs: []string{"get", "update"}}}}
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "lease", Name: "runner-leases"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "runner-account"}}}
		for _, o := range []client.Object{role, binding} {
			if err := c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		allowed := func() bool {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "runner-account",
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "lease", Verb: "get", Group: coordinationv1.GroupName, Resource: "leases"}}}
			if err := c.Create(ctx, sar); err != nil {
				t.Fatal(err)
			}
			return sar.Status.Allowed
		}
		waitFor := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("waiting for %s", what)
				}
			}
		}
		waitFor("the runner's access", allowed)
		as := rest.CopyConfig(restConfig)
		as.Impersonate = rest.ImpersonationConfig{UserName: "runner-account"}
		runner, err := client.New(as, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		k := take("revoked", "runner-1", time.Now())
		k.c = runner
		if err := k.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		// The batch is DONE: the manager takes the Lease back (a write the
		// runner has not seen) and revokes the runner's access.
		lease := read(k)
		lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now().Add(-time.Hour)}
		if err := c.Update(ctx, lease); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, binding); err != nil {
			t.Fatal(err)
		}
		waitFor("the revocation", func() bool { return !allowed() })
		if err := k.release(ctx); err != nil {
			t.Fatalf("release after the runner's access was revoked: %v", err)
		}
	})

	t.Run("release marks the lease expired and keeps the holder", func(t *testing.T) {
		k := take("release", "runner-1", time.Now())
		if err := k.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		if err := k.release(ctx); err != nil {
			t.Fatal(err)
		}
		lease := read(k)
		if h := *lease.Spec.HolderIdentity; h != "runner-1" {
			t.Errorf("holder is %q, want runner-1", h)
		}
		if age := time.Since(lease.Spec.RenewTime.Time); age < d {
			t.Errorf("released lease renewed %s ago, want older than its duration %s", age, d)
		}
	})
}
