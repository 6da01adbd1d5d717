package controllers

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/webhook"
)

// Config is everything the manager's reconcilers need.
type Config struct {
	Options
	// Executor starts the runners.
	Executor executor.Executor
	// Webhooks delivers terminal batches; nil disables webhooks.
	Webhooks *webhook.Sender
	// WebhookWorkers bounds the webhook deliveries in flight (default 4).
	WebhookWorkers int
	// WebhookProjectWorkers bounds one project's deliveries in flight
	// (default 1).
	WebhookProjectWorkers int
}

// CacheOptions restricts the manager's cache of Leases, Pods, Services,
// ResourceQuotas and LimitRanges to the ones Tweezer manages (there are many
// others in a cluster).
func CacheOptions() cache.Options {
	sel := labels.SelectorFromSet(labels.Set{executor.ManagedByLabel: executor.ManagedBy})
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&coordinationv1.Lease{}: {Label: sel},
		&corev1.Pod{}:           {Label: sel},
		&corev1.Service{}:       {Label: sel}, // notebook servers (controllers/learner)
		&corev1.ResourceQuota{}: {Label: sel}, // project guard rails (controllers/project)
		&corev1.LimitRange{}:    {Label: sel},
	}}
}

// Setup registers the indexes and the reconcilers with the manager.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	cfg.Options.defaults()
	if err := SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	q := NewQueue(mgr.GetClient(), cfg.Namespace, cfg.LeaseDuration)
	br := &BatchReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("tweezer-batch"), Executor: cfg.Executor,
		Queue: q, Options: cfg.Options, Webhooks: cfg.Webhooks != nil,
	}
	if err := br.SetupWithManager(mgr); err != nil {
		return err
	}
	if cfg.Webhooks != nil {
		wr := &WebhookReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tweezer-webhook"),
			Sender: cfg.Webhooks, Workers: cfg.WebhookWorkers, PerProject: cfg.WebhookProjectWorkers,
		}
		if err := wr.SetupWithManager(mgr); err != nil {
			return err
		}
		if err := (&SigningSecretReconciler{Webhooks: wr}).SetupWithManager(mgr); err != nil {
			return err
		}
	}
	return (&DeviceReconciler{Client: mgr.GetClient(), Queue: q, StatusInterval: 2 * cfg.StatusInterval}).SetupWithManager(mgr)
}
