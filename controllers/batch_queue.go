package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/metrics"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
)

// reconcileQueue asks the queue whether a waiting batch starts now. A batch
// that starts gets its device, its start time and Scheduled=True; one that
// waits gets Scheduled=False with the reason.
func (r *BatchReconciler) reconcileQueue(ctx context.Context, s *batchScope) error {
	b := s.batch
	if b.Status.DeviceID != "" {
		return nil
	}
	if !meta.IsStatusConditionTrue(b.Status.Conditions, quantumv1alpha1.ConditionJobsCreated) {
		return nil
	}
	if b.Spec.Canceled || derivePhase(b, s.jobs, "").Terminal() {
		return nil // nothing to run: the status phase finishes it
	}
	if waitingReason(b) == reasonIdle && idleOpen(b, s.jobs) {
		return nil // it gave its QPU back; a job added queues it again
	}
	adm, err := r.Queue.Admit(ctx, b, func() (bool, error) { return r.isFresh(ctx, s) })
	if err != nil {
		return err
	}
	log := ctrl.LoggerFrom(ctx)
	if adm.Device == nil {
		log.V(1).Info("batch waits", "reason", adm.Waiting, "retryAfter", adm.Retry)
		s.setCondition(quantumv1alpha1.ConditionScheduled, metav1.ConditionFalse, string(adm.Waiting), waitingMessage(b, adm.Waiting))
		s.requeueAfter(adm.Retry)
		// Kicks start waiting batches; this look is a safety net.
		s.requeueAfter(r.Options.QueueResyncInterval)
		return nil
	}
	s.admitted = true
	log.Info("batch admitted", "device", adm.Device.Name, "deviceType", b.Spec.DeviceType)
	s.device = adm.Device
	b.Status.DeviceID = adm.Device.Name
	b.Status.Phase = quantumv1alpha1.BatchRunning
	s.setCondition(quantumv1alpha1.ConditionScheduled, metav1.ConditionTrue, "Started", "started on device "+adm.Device.Name)
	r.event(s, "Normal", "Started", "started on device %s", adm.Device.Name)
	if b.Status.StartTime != nil {
		return nil // an open batch back from idling: it started before
	}
	now := metav1.NewTime(r.now())
	b.Status.StartTime = &now
	dt := string(b.Spec.DeviceType)
	latency := r.now().Sub(b.CreationTimestamp.Time).Seconds()
	s.after = append(s.after, func() {
		metrics.BatchesStarted.WithLabelValues(dt).Inc()
		metrics.StartLatency.WithLabelValues(dt).Observe(latency)
	})
	return nil
}

func waitingMessage(b *quantumv1alpha1.Batch, w scheduler.Waiting) string {
	switch w {
	case scheduler.WaitingNoDevice:
		return fmt.Sprintf("no device of type %s exists", b.Spec.DeviceType)
	case scheduler.WaitingNoActiveDevice:
		return fmt.Sprintf("every device of type %s is inactive", b.Spec.DeviceType)
	case scheduler.WaitingDeviceDown:
		return fmt.Sprintf("every device of type %s is DOWN", b.Spec.DeviceType)
	default:
		return fmt.Sprintf("waiting for its turn on a %s device", b.Spec.DeviceType)
	}
}
