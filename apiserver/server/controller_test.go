package server_test

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/jobbudget"
	"github.com/tweezer-dev/tweezer/controllers/workload"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

// The facade writes intent; the Batch controller creates Jobs, cancels what
// has not started and derives the batch's phase. The suite runs the real
// Batch reconciler next to the facade, with two changes that keep its
// batches where the facade's specs put them: its queue sees no device, so no
// batch starts on its own, and its executor runs nothing (a batch a worker
// route marks RUNNING keeps a runner that never ends).

const managerNamespace = "tweezer-system"

// startBatchController runs the Batch and Workload reconcilers until ctx ends.
func startBatchController(ctx context.Context, cfg *rest.Config) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 controlplane.Scheme(),
		Cache:                  controllers.CacheOptions(),
		NewClient:              controllers.NewClient,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptrTo(true)},
	})
	if err != nil {
		return err
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	// The suite creates jobs in a few projects far faster than a project's
	// job budget allows (hundreds in a test), and its tests expect a batch's
	// Jobs at once, as with the facade's write budget (off in the suite);
	// controllers/jobbudget_e2e_test.go tests the budget.
	opts := controllers.Options{Namespace: managerNamespace, LeaseDuration: time.Hour,
		JobBudget: jobbudget.Limits{PerSecond: -1}}
	r := &controllers.BatchReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Executor: idleExecutor{}, Options: opts,
		Queue: controllers.NewQueue(noDevices{mgr.GetClient()}, opts.Namespace, opts.LeaseDuration),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: controlplane.Scheme()})
	if err != nil {
		return err
	}
	// The facade's Role may have made the namespace already (main_test.go).
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The Workload reconciler writes a canceled workload's CANCELED (the
	// facade writes the intent); every pair has an image, and its runners
	// run nothing, so workloads stay where the worker routes put them.
	images := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: managerNamespace, Name: workload.ImagesConfigMap}, Data: map[string]string{}}
	for _, t := range []quantumv1alpha1.WorkloadType{"algorithm_dqgm", "qadence_circuit", "algorithm_pde_basf", "algorithm_pde_equality", "algorithm_qel_posco"} {
		for _, b := range []quantumv1alpha1.BackendName{"pyq", "pyqtorch", "digital", "emu_c", "pulser_basic"} {
			images.Data[workload.ImageKey(t, b)] = "runner:test"
		}
	}
	if err := c.Create(ctx, images); err != nil {
		return err
	}
	wr := &workload.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("workload"),
		Executor: idleExecutor{}, Namespace: managerNamespace,
	}
	if err := wr.SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	return nil
}

// noDevices hides every Device from the queue, so batches wait (PENDING).
type noDevices struct{ client.Client }

func (c noDevices) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*quantumv1alpha1.DeviceList); ok {
		return nil
	}
	return c.Client.List(ctx, list, opts...)
}

// idleExecutor starts nothing; its runners run until stopped.
type idleExecutor struct{}

func (idleExecutor) Start(context.Context, executor.Runner) error { return nil }
func (idleExecutor) Observe(context.Context, executor.Runner) (executor.Observation, error) {
	return executor.Observation{Phase: executor.Running}, nil
}
func (idleExecutor) Stop(context.Context, executor.Runner) error   { return nil }
func (idleExecutor) Watch(b *builder.Builder) *builder.Builder     { return b }
func (idleExecutor) Cleanup(context.Context, string, string) error { return nil }

func ptrTo[T any](v T) *T { return &v }
