// Command apiserver runs Tweezer's REST facade.
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr/funcr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tweezer-dev/tweezer/apiserver/server"
	"github.com/tweezer-dev/tweezer/internal/metricsauth"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == rotateCommand {
		os.Exit(rotateLinkKey(os.Args[2:], os.Stdout, os.Stderr, kubeconfigOrDefault))
	}
	cfg := server.Defaults()
	var resultsKey string
	flag.StringVar(&cfg.Addr, "listen", cfg.Addr, "listen address")
	flag.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest request body, after gzip decompression")
	flag.IntVar(&cfg.MaxObjectBytes, "max-object-bytes", cfg.MaxObjectBytes, "largest object sent to the API server")
	flag.IntVar(&cfg.MaxSequenceBytes, "max-sequence-bytes", cfg.MaxSequenceBytes, "largest serialized sequence of a batch or a job (413 beyond; the CRD's maximum is 1 MiB)")
	flag.IntVar(&cfg.InlineSequenceBytes, "inline-sequence-bytes", cfg.InlineSequenceBytes, "bytes of sequences a new batch keeps in its spec, and of config a new workload; larger ones go to a ConfigMap the batch or workload owns (spec.sequencesFrom, spec.configFrom), so that its status writes and watch events stay small (-1: keep them all in the spec)")
	flag.IntVar(&cfg.MaxJobsPerBatch, "max-jobs-per-batch", cfg.MaxJobsPerBatch, "most jobs of one batch, added jobs included (422 beyond; the CRD's maximum is 1000)")
	flag.Int64Var(&cfg.MaxShotsPerBatch, "max-shots-per-batch", cfg.MaxShotsPerBatch, "most runs of all of a batch's jobs together (422 beyond; the CRD's maximum is 10000000)")
	flag.IntVar(&cfg.MaxInlineResultsBytes, "max-inline-results-bytes", cfg.MaxInlineResultsBytes, "full results that GET /api/v1/batches/{id} inlines; later jobs carry their counter and full_result null (0: no bound)")
	flag.DurationVar(&cfg.AuthCacheTTL, "auth-cache-ttl", cfg.AuthCacheTTL, "how long token and access reviews are reused")
	flag.IntVar(&cfg.AuthCacheEntries, "auth-cache-entries", cfg.AuthCacheEntries, "entries of each auth cache (tokens, access reviews, failing clients); the least recently used go first")
	flag.Float64Var(&cfg.AuthFailureRate, "auth-failure-rate", cfg.AuthFailureRate, "failed authentications per second a client regains once past --auth-failure-burst (0: no limit)")
	flag.IntVar(&cfg.AuthFailureBurst, "auth-failure-burst", cfg.AuthFailureBurst, "failed authentications a client may make before its unknown tokens get 429 without a TokenReview (0: no limit)")
	audiences := flag.String("auth-audiences", "", "comma-separated audiences of the TokenReviews: tokens must be bound to one (default: the cluster's own audience)")
	flag.Float64Var(&cfg.ProjectWrites.BytesPerSecond, "project-write-bytes-per-second", cfg.ProjectWrites.BytesPerSecond, "bytes of write requests (bodies, or the objects written when larger) a project regains per second; past its burst it gets 429 with Retry-After (0: no limit)")
	flag.Int64Var(&cfg.ProjectWrites.BurstBytes, "project-write-burst-bytes", cfg.ProjectWrites.BurstBytes, "bytes a project may write at once; at least --max-body-bytes, so that the largest accepted body can be written")
	flag.Float64Var(&cfg.ProjectWrites.RequestsPerSecond, "project-write-requests-per-second", cfg.ProjectWrites.RequestsPerSecond, "write requests a project regains per second; past its burst it gets 429 with Retry-After (0: no limit)")
	flag.IntVar(&cfg.ProjectWrites.BurstRequests, "project-write-burst-requests", cfg.ProjectWrites.BurstRequests, "write requests a project may make at once")
	flag.Float64Var(&cfg.ProjectWrites.JobsPerSecond, "project-jobs-per-second", cfg.ProjectWrites.JobsPerSecond, "jobs (of new batches, or added to one) a project regains per second; past its burst it gets 429 with Retry-After (0: no limit)")
	flag.IntVar(&cfg.ProjectWrites.BurstJobs, "project-jobs-burst", cfg.ProjectWrites.BurstJobs, "jobs a project may create at once; a batch of more passes when the project's bucket is full, and its next jobs wait for the debt")
	flag.Float64Var(&cfg.ProjectWrites.RefusedPerSecond, "user-refused-writes-per-second", cfg.ProjectWrites.RefusedPerSecond, "refused writes (answered 4xx: invalid, forbidden, over quota) a user regains per second; past its burst its writes get 429 with Retry-After before their bodies are read (0: no limit)")
	flag.IntVar(&cfg.ProjectWrites.BurstRefused, "user-refused-writes-burst", cfg.ProjectWrites.BurstRefused, "refused writes a user may make in a row before it is held")
	flag.Int64Var(&cfg.ProjectWrites.InFlightBytes, "project-write-bytes-in-flight", cfg.ProjectWrites.InFlightBytes, "bytes of a project's write requests under way at once (each counted as charged); a write that would go past it waits for earlier ones to end (0: no bound)")
	flag.StringVar(&cfg.ClientIPHeader, "client-ip-header", "", "header whose last address is the client's, set by a trusted reverse proxy (e.g. X-Forwarded-For); default: the connection's address")
	flag.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long requests in flight may finish after SIGTERM")
	flag.DurationVar(&cfg.BodyReadTimeout, "body-read-timeout", cfg.BodyReadTimeout, "longest time to read a request body (slow clients get 408)")
	flag.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "longest time to read a request, at the connection level")
	flag.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "longest time to serve a request")
	flag.DurationVar(&cfg.ResultsLinkTTL, "results-link-ttl", cfg.ResultsLinkTTL, "how long a results link stays valid")
	flag.StringVar(&cfg.PublicURL, "public-url", "", "base URL of the facade in results links (default: http://localhost:<port of --listen>, for local mode)")
	flag.StringVar(&cfg.ResultsKeySecret, "results-key-secret", "", "namespace/name of the Secret whose data.current signs results links and data.previous still verifies them (a rotation); followed while running")
	flag.StringVar(&resultsKey, "results-key", os.Getenv("TWEEZER_RESULTS_KEY"), "hex key (32 bytes or more) signing results links when no --results-key-secret is set (default: random per process, which the log reports; env TWEEZER_RESULTS_KEY)")
	metricsFlags := metricsauth.Bind(flag.CommandLine, "0")
	flag.BoolVar(&cfg.AllowPrivateWebhooks, "allow-private-webhooks", false, "accept webhook URLs whose host is a loopback, private, link-local or reserved address (as the manager's flag)")
	// --kubeconfig is registered by controller-runtime's config loader.
	flag.Parse()
	for _, a := range strings.Split(*audiences, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.AuthAudiences = append(cfg.AuthAudiences, a)
		}
	}
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
	metrics, err := metricsFlags.Server(restCfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
	if metrics != nil {
		go func() {
			if err := metrics.Start(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "metrics:", err)
				os.Exit(1)
			}
		}()
	}
	fmt.Fprintf(os.Stderr, "tweezer facade listening on %s (OpenAPI at /openapi.json, docs at /docs)\n", cfg.Addr)
	if err := s.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
