package controllers

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
	"github.com/tweezer-dev/tweezer/internal/leaseholder"
)

// A runner holds a Lease and renews it; the manager decides that a runner
// died when the Lease expires. A QPU's Lease belongs to the device (in the
// manager's lease namespace) and is what makes the QPU exclusive; an
// emulator batch's Lease belongs to the batch (in its namespace, owned by it).
//
// The holder identity (package internal/leaseholder) names the batch and the
// runner generation, the one place the generation is stored: a dead runner
// that comes back finds the Lease held by its successor and stops (fencing).
// This file and runners/batchrunner/lease.go are the two sides of the
// protocol: the manager takes (takeover), reserves (hold) and judges
// (qpuFree, leaseExpired) here; the runner renews there.

// qpuLeasePrefix prefixes the name of a QPU device's Lease.
const qpuLeasePrefix = "tweezer-qpu-"

func holderID(namespace, batch string, generation int) string {
	return leaseholder.Holder{Batch: client.ObjectKey{Namespace: namespace, Name: batch}, Generation: generation}.String()
}

// parseHolder splits a holder identity; ok is false for anything else.
func parseHolder(holder string) (batch client.ObjectKey, generation int, ok bool) {
	h, ok := leaseholder.Parse(holder)
	return h.Batch, h.Generation, ok
}

// leaseKey is where the runner Lease of a batch on a device lives.
func leaseKey(b *quantumv1alpha1.Batch, d *quantumv1alpha1.Device, leaseNamespace string) client.ObjectKey {
	if scheduler.IsQPU(d) {
		return client.ObjectKey{Namespace: leaseNamespace, Name: qpuLeasePrefix + d.Name}
	}
	return client.ObjectKey{Namespace: b.Namespace, Name: b.Name}
}

// leaseHolder returns the holder identity, "" when released.
func leaseHolder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// leaseExpired reports whether the holder failed to renew in time.
func leaseExpired(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return now.After(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// leaseAnnotation reads a number setLeaseAnnotation wrote (0 when absent).
func leaseAnnotation(l *coordinationv1.Lease, key string) int {
	v, _ := strconv.Atoi(l.Annotations[key])
	return v
}

func setLeaseAnnotation(l *coordinationv1.Lease, key string, v int) {
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[key] = strconv.Itoa(v)
}

func leaseLabels() map[string]string {
	return map[string]string{executor.ManagedByLabel: executor.ManagedBy}
}

func leaseSeconds(d time.Duration) int32 {
	s := int32((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

func describeLease(l *coordinationv1.Lease) string {
	return fmt.Sprintf("lease %s/%s held by %q", l.Namespace, l.Name, leaseHolder(l))
}

// qpuFree reports whether batch may take a QPU's existing Lease at now:
// released, expired, or already the batch's. Otherwise left is how long to
// wait before looking again (until the holder's renewal runs out).
func qpuFree(lease *coordinationv1.Lease, batch client.ObjectKey, now time.Time) (free bool, left time.Duration) {
	holder := leaseHolder(lease)
	owner, _, ours := parseHolder(holder)
	ours = ours && owner == batch
	if holder != "" && !ours && !leaseExpired(lease, now) {
		return false, lease.Spec.RenewTime.Add(time.Duration(*lease.Spec.LeaseDurationSeconds)*time.Second).Sub(now) + 100*time.Millisecond
	}
	return true, 0
}

// hold reserves a QPU's Lease for batch b before any runner starts
// (generation 0), so that no other batch of the device takes the QPU.
func (q *Queue) hold(lease *coordinationv1.Lease, b *quantumv1alpha1.Batch, now time.Time) {
	t := metav1.NewMicroTime(now)
	lease.Spec.HolderIdentity = ptr.To(holderID(b.Namespace, b.Name, 0))
	lease.Spec.LeaseDurationSeconds = ptr.To(leaseSeconds(q.leaseDuration))
	lease.Spec.AcquireTime = &t
	lease.Spec.RenewTime = &t
	lease.Spec.LeaseTransitions = ptr.To(ptr.Deref(lease.Spec.LeaseTransitions, 0) + 1)
	setLeaseAnnotation(lease, quantumv1alpha1.RunnerFailuresAnnotation, 0)
}

// errLeaseMoved means the Lease changed holder since it was observed.
var errLeaseMoved = errors.New("the runner lease changed holder meanwhile")

// takeover moves lease (as read now; a new one when observed is nil) to the
// next runner generation of batch, for duration from now, and returns the
// generation. It refuses with errLeaseMoved when lease no longer has the
// holder observed: someone else took it meanwhile.
func takeover(lease, observed *coordinationv1.Lease, batch client.ObjectKey, duration time.Duration, now time.Time) (int, error) {
	if observed != nil && leaseHolder(lease) != leaseHolder(observed) {
		return 0, errLeaseMoved
	}
	gen := int(ptr.Deref(lease.Spec.LeaseTransitions, 0)) + 1
	t := metav1.NewMicroTime(now)
	lease.Spec.HolderIdentity = ptr.To(holderID(batch.Namespace, batch.Name, gen))
	lease.Spec.LeaseDurationSeconds = ptr.To(leaseSeconds(duration))
	lease.Spec.AcquireTime, lease.Spec.RenewTime = &t, &t
	lease.Spec.LeaseTransitions = ptr.To(int32(gen))
	return gen, nil
}
