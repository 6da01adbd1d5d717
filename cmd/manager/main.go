// Command manager runs Tweezer's controllers: it turns Batches into Jobs,
// queues them per device type, starts their runners (Pods or local
// processes), watches the runners, and derives batch and device status.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/jobbudget"
	"github.com/tweezer-dev/tweezer/controllers/retention"
	"github.com/tweezer-dev/tweezer/controllers/webhook"
	"github.com/tweezer-dev/tweezer/internal/metricsauth"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		execKind        = flag.String("executor", "pod", "how runners run: pod (in a cluster) or process (local mode)")
		runnerBinary    = flag.String("runner-binary", "bin/runner", "runner binary for the process executor")
		runnerKubecfg   = flag.String("runner-kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig passed to process runners")
		runnerImage     = flag.String("runner-image", "", "default runner image for devices that name none (pod executor)")
		namespace       = flag.String("namespace", envOr("POD_NAMESPACE", "tweezer-system"), "the manager's namespace: QPU leases and the runners' access to them")
		leaseDuration   = flag.Duration("lease-duration", runnerspec.DefaultLeaseDuration, "runner lease duration: a runner that dies unseen by the executor is noticed this long after its last renewal; runners ride out an API outage of up to about 3/4 of it")
		resync          = flag.Duration("resync-interval", 0, "how often running batches are checked without events (default: half the lease duration)")
		maxAttempts     = flag.Int("max-attempts", 3, "runner starts a job gets before it is ERROR")
		timeLimit       = flag.Duration("default-time-limit", 0, "time limit of batches whose device sets none (0: none)")
		workers         = flag.Int("batch-workers", 4, "concurrent batch reconciliations")
		allowPrivate    = flag.Bool("allow-private-webhooks", false, "allow webhooks to loopback, link-local, private and cluster-internal targets")
		webhookAttempts = flag.Int("webhook-attempts", 5, "deliveries of a terminal batch's webhook before giving up")
		webhookWorkers  = flag.Int("webhook-workers", 4, "webhook deliveries in flight")
		webhookPerProj  = flag.Int("webhook-project-workers", 1, "webhook deliveries in flight per project")
		webhookTimeout  = flag.Duration("webhook-timeout", 10*time.Second, "timeout of one webhook delivery")
		webhookPorts    = flag.String("webhook-ports", "80,443", "comma-separated ports webhooks may target, or \"any\"")
		metricsFlags    = metricsauth.Bind(flag.CommandLine, ":8443")
		probeAddr       = flag.String("health-probe-bind-address", ":8081", "health probe address (0 disables it)")
		leaderElect     = flag.Bool("leader-elect", false, "elect a leader so that only one manager replica is active")
		idleRelease     = flag.Duration("idle-release", 10*time.Second, "how long an open batch may hold a QPU with no job to run before it gives it back")
		retentionTTL    = flag.Duration("batch-retention", retention.DefaultTTL, "finished batches are deleted, with their jobs and results, this long after their end (0 keeps them)")
		jobsPerSecond   = flag.Float64("project-jobs-per-second", jobbudget.DefaultPerSecond, "jobs the batches of one project may create per second, however the batches were created; a batch's jobs wait for the budget (0: no limit)")
		jobsBurst       = flag.Int("project-jobs-burst", jobbudget.DefaultBurst, "jobs one project's batches may create at once (a batch of more needs a full budget)")
	)
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	jobs := jobbudget.Limits{PerSecond: *jobsPerSecond, Burst: *jobsBurst}
	if err := jobs.Validate(); err != nil {
		return err
	}
	if jobs.Off() {
		jobs.PerSecond = -1 // zero in Options is the default
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := quantumv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controllers.CacheOptions(),
		NewClient:               controllers.NewClient,
		Metrics:                 metricsFlags.Options(),
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "tweezer-manager.quantum.tweezer.dev",
		LeaderElectionNamespace: *namespace,
	})
	if err != nil {
		return err
	}
	var exec executor.Executor
	switch *execKind {
	case "pod":
		res, err := runnerResources()
		if err != nil {
			return err
		}
		exec = &executor.Pod{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), LeaseNamespace: *namespace, DefaultImage: *runnerImage, DefaultResources: res}
	case "process":
		p := executor.NewProcess(*runnerBinary, *runnerKubecfg, os.Stderr)
		p.Client = mgr.GetClient() // QPU runners get gateway tokens of their project's runner account
		exec = p
	default:
		return fmt.Errorf("--executor must be pod or process, not %q", *execKind)
	}
	policy := webhook.Policy{AllowPrivate: *allowPrivate}
	if err := policy.SetPorts(*webhookPorts); err != nil {
		return fmt.Errorf("--webhook-ports: %w", err)
	}
	sender := webhook.NewSender(policy)
	sender.MaxAttempts = *webhookAttempts
	sender.Timeout = *webhookTimeout
	ctx := ctrl.SetupSignalHandler()
	if err := controllers.Setup(ctx, mgr, controllers.Config{
		Options: controllers.Options{
			Namespace: *namespace, LeaseDuration: *leaseDuration, ResyncInterval: *resync,
			MaxAttempts: *maxAttempts, DefaultTimeLimit: *timeLimit, MaxConcurrentReconciles: *workers,
			IdleRelease: *idleRelease, JobBudget: jobs,
		},
		Executor: exec,
		Webhooks: sender, WebhookWorkers: *webhookWorkers, WebhookProjectWorkers: *webhookPerProj,
	}); err != nil {
		return err
	}
	if *retentionTTL > 0 {
		if err := (&retention.Reconciler{
			Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("tweezer-retention"), TTL: *retentionTTL,
		}).SetupWithManager(mgr); err != nil {
			return err
		}
	}
	if err := setupProjects(mgr); err != nil {
		return err
	}
	if err := setupWorkloadsAndLearners(mgr, *execKind, *runnerBinary, *runnerKubecfg, *namespace); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
