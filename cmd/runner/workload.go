package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
	"github.com/tweezer-dev/tweezer/runners/workloadrunner"
)

func init() {
	register("workload", subcommand{
		summary: "run one pulser_basic Workload and write its result to its status",
		run:     runWorkload,
	})
}

func runWorkload(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	decode := runnerspec.Flags(runnerspec.Workload, fs, os.Getenv)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: in-cluster config or $KUBECONFIG)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	spec, err := decode()
	if err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return 2
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "workload: loading the cluster configuration: %v\n", err)
		return 1
	}
	s := runtime.NewScheme()
	if err := quantumv1alpha1.AddToScheme(s); err != nil {
		fmt.Fprintf(stderr, "workload: %v\n", err)
		return 1
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	if err != nil {
		fmt.Fprintf(stderr, "workload: %v\n", err)
		return 1
	}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(stderr, prefix, args) }, funcr.Options{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &workloadrunner.Runner{Client: c, Namespace: spec.Namespace, Name: spec.Name, Log: log.WithValues("workload", spec.Namespace+"/"+spec.Name)}
	if err := r.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "workload: %v\n", err)
		return 1
	}
	return 0
}
