package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tweezer-dev/tweezer/apiserver/server"
)

// rotateCommand is the subcommand that rotates the results link keys.
const rotateCommand = "rotate-link-key"

// rotateLinkKey runs "apiserver rotate-link-key": it rotates the keys of the
// Secret --results-key-secret names (server.RotateResultsKey) with the
// caller's credentials, and says what happened and what to do next. It
// returns the exit code: 2 for bad arguments, 1 for a failed rotation.
func rotateLinkKey(args []string, stdout, stderr io.Writer, config func(kubeconfig string) (*rest.Config, error)) int {
	fs := flag.NewFlagSet(rotateCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ref := fs.String("results-key-secret", "tweezer-system/tweezer-results-key", "namespace/name of the facade's results key Secret")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: in-cluster config or $KUBECONFIG)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: apiserver %s [--results-key-secret namespace/name] [--kubeconfig file]\n\n"+
			"Writes a new random data.current into the Secret and moves the old one to data.previous,\n"+
			"so links signed before keep verifying until they expire (--results-link-ttl).\n", rotateCommand)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", rotateCommand, fs.Arg(0))
		fs.Usage()
		return 2
	}
	cfg, err := config(*kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "%s: kubeconfig: %v\n", rotateCommand, err)
		return 1
	}
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", rotateCommand, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	created, err := server.RotateResultsKey(ctx, c, *ref)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", rotateCommand, err)
		return 1
	}
	if created {
		fmt.Fprintf(stdout, "created %s with a new data.current: the facades sign links with it from now on\n", *ref)
		return 0
	}
	fmt.Fprintf(stdout, "rotated %s: a new data.current signs from now on; the old key, now data.previous, verifies the links signed before until they expire\n", *ref)
	return 0
}

// kubeconfigOrDefault loads a kubeconfig file, or controller-runtime's
// default (in-cluster, then $KUBECONFIG, then ~/.kube/config) when none is given.
func kubeconfigOrDefault(path string) (*rest.Config, error) {
	if path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	return ctrl.GetConfig()
}
