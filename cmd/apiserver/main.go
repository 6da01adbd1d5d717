// Command apiserver runs Tweezer's REST facade.
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr/funcr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tweezer-dev/tweezer/apiserver/server"
)

func main() {
	cfg := server.Defaults()
	var resultsKey string
	flag.StringVar(&cfg.Addr, "listen", cfg.Addr, "listen address")
	flag.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest request body, after gzip decompression")
	flag.IntVar(&cfg.MaxObjectBytes, "max-object-bytes", cfg.MaxObjectBytes, "largest object sent to the API server")
	flag.IntVar(&cfg.MaxSequenceBytes, "max-sequence-bytes", cfg.MaxSequenceBytes, "largest serialized sequence of a batch or a job (413 beyond; the CRD's maximum is 1 MiB)")
	flag.IntVar(&cfg.MaxJobsPerBatch, "max-jobs-per-batch", cfg.MaxJobsPerBatch, "most jobs of one batch, added jobs included (422 beyond; the CRD's maximum is 1000)")
	flag.Int64Var(&cfg.MaxShotsPerBatch, "max-shots-per-batch", cfg.MaxShotsPerBatch, "most runs of all of a batch's jobs together (422 beyond; the CRD's maximum is 10000000)")
	flag.IntVar(&cfg.MaxInlineResultsBytes, "max-inline-results-bytes", cfg.MaxInlineResultsBytes, "full results that GET /api/v1/batches/{id} inlines; later jobs carry their counter and full_result null (0: no bound)")
	flag.DurationVar(&cfg.AuthCacheTTL, "auth-cache-ttl", cfg.AuthCacheTTL, "how long token and access reviews are reused")
	flag.DurationVar(&cfg.BodyReadTimeout, "body-read-timeout", cfg.BodyReadTimeout, "longest time to read a request body (slow clients get 408)")
	flag.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "longest time to read a request, at the connection level")
	flag.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "longest time to serve a request")
	flag.DurationVar(&cfg.ResultsLinkTTL, "results-link-ttl", cfg.ResultsLinkTTL, "how long a results link stays valid")
	flag.StringVar(&cfg.PublicURL, "public-url", "", "base URL of the facade in results links (default: the request's host)")
	flag.StringVar(&resultsKey, "results-key", os.Getenv("TWEEZER_RESULTS_KEY"), "hex key signing results links (default: random per process; env TWEEZER_RESULTS_KEY)")
	flag.BoolVar(&cfg.AllowPrivateWebhooks, "allow-private-webhooks", false, "accept webhook URLs whose host is a loopback, private, link-local or reserved address (as the manager's flag)")
	// --kubeconfig is registered by controller-runtime's config loader.
	flag.Parse()
	cfg.Log = funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{LogTimestamp: true})
	if resultsKey != "" {
		key, err := hex.DecodeString(resultsKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "--results-key: not hex:", err)
			os.Exit(2)
		}
		cfg.ResultsKey = key
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeconfig:", err)
		os.Exit(1)
	}
	s, err := server.New(restCfg, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "tweezer facade listening on %s (OpenAPI at /openapi.json, docs at /docs)\n", cfg.Addr)
	if err := s.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
