package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/devices"
	"github.com/tweezer-dev/tweezer/runners/emulator"
	"github.com/tweezer-dev/tweezer/runners/qpu"
)

func init() {
	register("gateway", subcommand{
		summary: "serve the built-in emulated Fresnel QPU gateway (local mode), authenticating runners by TokenReview",
		run:     runGateway,
	})
}

func runGateway(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve the gateway on")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster whose runner tokens are accepted (default: in-cluster config or $KUBECONFIG); its user needs create on tokenreviews")
	audience := fs.String("audience", qpu.Audience, "audience the runners' tokens must be bound to")
	shotTime := fs.Duration("shot-time", 0, "time per shot of the emulated QPU")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "gateway: no positional arguments")
		return 2
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "gateway: loading the cluster configuration: %v\n", err)
		return 1
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 1
	}
	specs, _ := devices.Specs(string(quantumv1alpha1.DeviceTypeFresnel))
	gw := &qpu.Gateway{
		Engine: emulator.Engine{DeviceType: string(quantumv1alpha1.DeviceTypeEmuFresnel)}, Specs: specs, ShotTime: *shotTime,
		Auth: &qpu.TokenReviewer{Reviews: cs.AuthenticationV1().TokenReviews(), Audience: *audience},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 1
	}
	gw.Start(ctx)
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Fprintf(stderr, "gateway: serving the emulated Fresnel QPU on %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 1
	}
	return 0
}
