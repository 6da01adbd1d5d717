package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/metrics"
	"github.com/tweezer-dev/tweezer/controllers/webhook"
)

// reconcileWebhook POSTs a terminal batch to its webhook, once it succeeds,
// retrying with backoff up to the sender's MaxAttempts. The WebhookDelivered
// condition records the outcome: True (Delivered), Unknown (Retrying) or
// False (Failed, Refused by the target policy). Delivery is at least once:
// attempts and successes are remembered in memory until the condition is
// recorded, so a manager restart in between may POST again and grants a
// batch a fresh set of retries.
func (r *BatchReconciler) reconcileWebhook(ctx context.Context, s *batchScope) error {
	b := s.batch
	if b.Spec.Webhook == "" || r.Webhooks == nil {
		return nil
	}
	if c := meta.FindStatusCondition(b.Status.Conditions, quantumv1alpha1.ConditionWebhookDelivered); c != nil && c.Status != metav1.ConditionUnknown {
		r.forgetWebhook(client.ObjectKeyFromObject(b))
		return nil
	}
	key := client.ObjectKeyFromObject(b)
	r.webhookMu.Lock()
	delivered := r.webhookDelivered[key]
	r.webhookMu.Unlock()
	if delivered {
		// Delivered, but the condition did not reach the cache yet (or its
		// write failed): record it again without a second POST.
		s.setCondition(quantumv1alpha1.ConditionWebhookDelivered, metav1.ConditionTrue, "Delivered", "POST "+b.Spec.Webhook+" succeeded")
		return nil
	}
	full, err := r.freshRead(ctx, s)
	if err != nil || full == nil {
		return err
	}
	projectID := b.Namespace
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: b.Namespace}, ns); err == nil && ns.Labels[quantumv1alpha1.ProjectIDLabel] != "" {
		projectID = ns.Labels[quantumv1alpha1.ProjectIDLabel]
	}
	deviceStatus := ""
	if b.Status.DeviceID != "" {
		d := &quantumv1alpha1.Device{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: b.Status.DeviceID}, d); err == nil {
			deviceStatus = string(d.Spec.Availability)
		}
	}
	updated := r.now()
	if b.Status.EndTime != nil {
		updated = b.Status.EndTime.Time
	}
	// The payload carries the sequence, which the cache does not hold: the
	// spec is the fresh read's, the status this reconciliation's.
	doc := b.DeepCopy()
	doc.Spec = full.Spec
	body, err := webhook.Payload(doc, projectID, deviceStatus, updated)
	if err != nil {
		return err
	}
	err = r.Webhooks.Deliver(ctx, b.Spec.Webhook, body)
	log := ctrl.LoggerFrom(ctx).WithValues("url", b.Spec.Webhook)
	switch {
	case err == nil:
		log.Info("webhook delivered")
		r.webhookMu.Lock()
		delete(r.webhookAttempts, key)
		r.webhookDelivered[key] = true
		r.webhookMu.Unlock()
		s.setCondition(quantumv1alpha1.ConditionWebhookDelivered, metav1.ConditionTrue, "Delivered", "POST "+b.Spec.Webhook+" succeeded")
		r.event(s, corev1.EventTypeNormal, "WebhookDelivered", "delivered the batch to its webhook")
		s.after = append(s.after, func() { metrics.WebhookDeliveries.WithLabelValues("delivered").Inc() })
	case errors.Is(err, webhook.ErrRefused):
		log.Info("webhook refused", "reason", err.Error())
		s.setCondition(quantumv1alpha1.ConditionWebhookDelivered, metav1.ConditionFalse, "Refused", err.Error())
		r.event(s, corev1.EventTypeWarning, "WebhookRefused", "%s", err.Error())
		s.after = append(s.after, func() { metrics.WebhookDeliveries.WithLabelValues("refused").Inc() })
	default:
		r.webhookMu.Lock()
		r.webhookAttempts[key]++
		n := r.webhookAttempts[key]
		r.webhookMu.Unlock()
		log.Info("webhook delivery failed", "attempt", n, "of", r.Webhooks.MaxAttempts, "error", err.Error())
		s.after = append(s.after, func() { metrics.WebhookDeliveries.WithLabelValues("failed").Inc() })
		if n >= r.Webhooks.MaxAttempts {
			r.forgetWebhook(key)
			s.setCondition(quantumv1alpha1.ConditionWebhookDelivered, metav1.ConditionFalse, "Failed",
				fmt.Sprintf("gave up after %d attempts: %v", n, err))
			r.event(s, corev1.EventTypeWarning, "WebhookFailed", "gave up after %d attempts: %v", n, err)
			return nil
		}
		s.setCondition(quantumv1alpha1.ConditionWebhookDelivered, metav1.ConditionUnknown, "Retrying",
			fmt.Sprintf("attempt %d of %d failed: %v", n, r.Webhooks.MaxAttempts, err))
		s.requeueAfter(r.Webhooks.Backoff(n))
	}
	return nil
}

func (r *BatchReconciler) forgetWebhook(key client.ObjectKey) {
	r.webhookMu.Lock()
	defer r.webhookMu.Unlock()
	delete(r.webhookAttempts, key)
	delete(r.webhookDelivered, key)
}
