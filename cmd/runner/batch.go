package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr/funcr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
	"github.com/tweezer-dev/tweezer/runners/batchrunner"
	"github.com/tweezer-dev/tweezer/runners/emulator"
	"github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/mps"
	"github.com/tweezer-dev/tweezer/runners/qpu"
)

func init() {
	register("batch", subcommand{
		summary: "run the jobs of one Batch (emulator or QPU gateway) while holding its lease",
		run:     runBatch,
	})
}

func runBatch(args []string, _, stderr io.Writer) int {
	return runBatchWith(args, stderr, os.Getenv, connect)
}

// connect loads a kubeconfig (empty: in-cluster config or $KUBECONFIG) and
// connects to its API server.
func connect(kubeconfig string) (*batchrunner.Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the cluster configuration: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{quantumv1alpha1.AddToScheme, corev1.AddToScheme, coordinationv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return batchrunner.NewCluster(cfg, s)
}

// runBatchWith runs one batch: a process of its own (runBatch) or one
// assignment of a worker (runServe), which passes the gateway token and
// shares its cluster connections.
func runBatchWith(args []string, stderr io.Writer, getenv func(string) string, cluster func(kubeconfig string) (*batchrunner.Cluster, error)) int {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	decode := runnerspec.Flags(runnerspec.Batch, fs, getenv)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: in-cluster config or $KUBECONFIG)")
	progressEvery := fs.Duration("progress-interval", time.Second, "least time between two status writes of a running job (RUNNING after it, then progress)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	spec, err := decode()
	if err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return 2
	}
	cl, err := cluster(*kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "batch: %v\n", err)
		return 1
	}
	base := funcr.New(func(prefix, args string) { fmt.Fprintln(stderr, prefix, args) }, funcr.Options{LogTimestamp: true})
	ctrllog.SetLogger(base) // only the first call counts: keep batch names out of it
	log := base.WithValues("batch", spec.Namespace+"/"+spec.Name, "runner", spec.RunnerID)
	eng := localEngine(func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) })
	if spec.GatewayURL != "" {
		eng = &qpu.HTTPDriver{URL: spec.GatewayURL, Token: spec.GatewayToken, TokenFile: spec.GatewayTokenFile}
	}
	r, err := batchrunner.New(cl, batchrunner.Config{
		Namespace: spec.Namespace, Batch: spec.Name, RunnerID: spec.RunnerID,
		LeaseNamespace: spec.LeaseNamespace, LeaseName: spec.LeaseName, LeaseDuration: spec.LeaseDuration,
		Engine: eng, ProgressInterval: *progressEvery, Log: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "batch: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := r.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "batch: %v\n", err)
		if errors.Is(err, batchrunner.ErrLeaseLost) {
			return 3
		}
		return 1
	}
	return 0
}

// usesMPS reports whether a device type runs on the matrix-product-state
// engine (EMU_MPS, EMU_TN) rather than the state vector.
func usesMPS(deviceType string) bool {
	switch strings.ToUpper(deviceType) {
	case string(quantumv1alpha1.DeviceTypeEmuMPS), string(quantumv1alpha1.DeviceTypeEmuTN):
		return true
	}
	return false
}

// localEngine runs each task on the engine its device type names: the MPS
// engine (whose run statistics go to log) for EMU_MPS and EMU_TN, the
// state-vector emulator for the others.
func localEngine(log func(format string, args ...any)) engine.Engine {
	tn, sv := mps.Engine{Log: log}, emulator.Engine{}
	return engine.Func(func(ctx context.Context, task engine.Task, progress func(int)) (*engine.Result, error) {
		if usesMPS(task.DeviceType) {
			return tn.Run(ctx, task, progress)
		}
		return sv.Run(ctx, task, progress)
	})
}
