package controllers

import (
	"fmt"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
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
// protocol: the manager takes, reserves and releases; the runner renews.

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
