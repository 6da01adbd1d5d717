// Package metrics holds the manager's Prometheus metrics, registered with
// controller-runtime's registry and served on the manager's metrics address.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// QueueDepth is the number of pending batches per device type and queue priority.
	QueueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tweezer_queue_depth",
		Help: "Pending batches per device type and queue priority.",
	}, []string{"device_type", "queue_priority"})

	// BatchesStarted counts batches given a device.
	BatchesStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tweezer_batches_started_total",
		Help: "Batches started, per device type.",
	}, []string{"device_type"})

	// BatchesFinished counts batches that reached a terminal status.
	BatchesFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tweezer_batches_finished_total",
		Help: "Batches that reached a terminal status, per device type and status.",
	}, []string{"device_type", "status"})

	// JobsStarted counts jobs of finished batches that a runner started.
	JobsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tweezer_jobs_started_total",
		Help: "Jobs started by a runner, per device type (counted when their batch finishes).",
	}, []string{"device_type"})

	// JobsFinished counts the jobs of finished batches by their status.
	JobsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tweezer_jobs_finished_total",
		Help: "Jobs that reached a terminal status, per device type and status (counted when their batch finishes).",
	}, []string{"device_type", "status"})

	// StartLatency is the time from a batch's creation to its start.
	StartLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tweezer_batch_start_latency_seconds",
		Help:    "Time from a batch's creation to its start, per device type.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
	}, []string{"device_type"})

	// RunnerRestarts counts runners started again after one died.
	RunnerRestarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tweezer_runner_restarts_total",
		Help: "Runners restarted after the previous runner of their batch died, per device type.",
	}, []string{"device_type"})

	// WebhookDeliveries counts webhook delivery attempts by outcome.
	WebhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tweezer_webhook_deliveries_total",
		Help: "Terminal-batch webhook delivery attempts, by outcome (delivered, failed, refused).",
	}, []string{"outcome"})

	// QuotaRefusals counts creations a project's ResourceQuota refused.
	QuotaRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tweezer_quota_refusals_total",
		Help: "Jobs and runner pods the Batch controller could not create because the project's ResourceQuota was full, by what (job, runner).",
	}, []string{"what"})

	// JobBudgetWaits counts the times a batch's jobs waited for their
	// project's job budget (controllers/jobbudget).
	JobBudgetWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tweezer_job_budget_waits_total",
		Help: "Times the Batch controller made a batch's jobs wait because its project had created jobs faster than its job budget (--project-jobs-per-second, --project-jobs-burst).",
	})
)

func init() {
	metrics.Registry.MustRegister(QueueDepth, BatchesStarted, BatchesFinished, JobsStarted,
		JobsFinished, StartLatency, RunnerRestarts, WebhookDeliveries, QuotaRefusals, JobBudgetWaits)
}
