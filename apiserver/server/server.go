// Package server wires the facade: an informer cache with the field indexes
// the handlers query, a direct client for writes, the huma API on a chi
// router, bearer authentication, gzip bodies with a decompressed cap, and
// server timeouts.
package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/auth"
	"github.com/tweezer-dev/tweezer/apiserver/budget"
	"github.com/tweezer-dev/tweezer/apiserver/console"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/apiserver/handlers"
	"github.com/tweezer-dev/tweezer/internal/nbserver"
	"github.com/tweezer-dev/tweezer/internal/slimcache"
)

// Config tunes the facade.
type Config struct {
	// Addr is the listen address, e.g. ":8080".
	Addr string
	// MaxBodyBytes caps a request body after decompression.
	MaxBodyBytes int64
	// MaxObjectBytes caps one object sent to the API server (etcd refuses ~1.5 MiB).
	MaxObjectBytes int
	// MaxSequenceBytes caps one serialized sequence (413 beyond it).
	MaxSequenceBytes int
	// InlineSequenceBytes is how many bytes of sequences a new batch keeps
	// in its spec, and of config a new workload; larger ones go to a
	// ConfigMap the batch or workload owns (spec.sequencesFrom,
	// spec.configFrom). Negative keeps them all in the spec.
	InlineSequenceBytes int
	// MaxJobsPerBatch caps a batch's jobs, added ones included (422).
	MaxJobsPerBatch int
	// MaxShotsPerBatch caps the runs of a batch's jobs together (422).
	MaxShotsPerBatch int64
	// MaxInlineResultsBytes bounds the full results that GET
	// /api/v1/batches/{id} inlines; later jobs carry their counter only.
	MaxInlineResultsBytes int
	// AuthCacheTTL is how long TokenReview and SubjectAccessReview answers are reused.
	AuthCacheTTL time.Duration
	// AuthCacheEntries bounds each of the token, access and failing-client caches.
	AuthCacheEntries int
	// AuthAudiences are the TokenReviews' audiences (empty: the cluster's own).
	AuthAudiences []string
	// AuthFailureRate and AuthFailureBurst limit failed authentications per
	// client: past the burst, its unknown tokens get 429 without a
	// TokenReview, and it regains AuthFailureRate tries per second.
	AuthFailureRate  float64
	AuthFailureBurst int
	// ClientIPHeader names a header set by a trusted reverse proxy whose
	// last address is the client's (e.g. X-Forwarded-For); empty uses the
	// connection's address.
	ClientIPHeader string
	// BodyReadTimeout bounds reading a request body (slow clients get 408).
	BodyReadTimeout time.Duration
	// NotebookWait bounds how long a notebook spawn waits for the notebook controller.
	NotebookWait time.Duration
	// ReadTimeout bounds reading a whole request, at the connection level.
	ReadTimeout time.Duration
	// WriteTimeout bounds a whole request, handler included.
	WriteTimeout time.Duration
	// DrainTimeout bounds how long requests in flight may finish after the
	// facade is told to stop (SIGTERM).
	DrainTimeout time.Duration
	// ResultsKeySecret, "namespace/name", is the Secret whose keys sign
	// results links (resultsKeys.go): "current" signs, "current" and
	// "previous" verify; the facade follows its changes (a rotation).
	ResultsKeySecret string
	// ResultsKey, without ResultsKeySecret, is the one key of results links;
	// random when empty too (links then die with the process and work on
	// this replica only).
	ResultsKey []byte
	// ResultsLinkTTL is how long a results link stays valid.
	ResultsLinkTTL time.Duration
	// PublicURL is the base URL in results links; empty: DefaultPublicURL(Addr).
	PublicURL string
	// Log receives the facade's structured logs (authentication and
	// authorization refusals); the zero Logger discards them.
	Log logr.Logger
	// AllowPrivateWebhooks accepts webhook URLs whose host is a loopback,
	// private, link-local or reserved address (as the manager's
	// --allow-private-webhooks).
	AllowPrivateWebhooks bool
	// ProjectWrites is each project's write budget (apiserver/budget): the
	// bytes and the number of its write requests, as token buckets, and
	// each user's refused writes. Past it, writes get 429 with Retry-After.
	// A rate of 0 turns that limit off. Its InFlightBytes bounds the bytes
	// of a project's writes under way at once (later ones wait).
	ProjectWrites budget.Limits
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Addr:           ":8080",
		MaxBodyBytes:   defaultMaxBodyBytes,
		MaxObjectBytes: 1400 << 10,
		// The CRDs' maxima; a cluster may set the facade tighter.
		MaxSequenceBytes:      quantumv1alpha1.MaxSequenceBytes,
		InlineSequenceBytes:   64 << 10,
		MaxJobsPerBatch:       quantumv1alpha1.MaxJobsPerBatch,
		MaxShotsPerBatch:      quantumv1alpha1.MaxShotsPerBatch,
		MaxInlineResultsBytes: 16 << 20,
		AuthCacheTTL:          auth.DefaultOptions().TTL,
		AuthCacheEntries:      auth.DefaultOptions().MaxEntries,
		AuthFailureRate:       float64(auth.DefaultOptions().FailureRate),
		AuthFailureBurst:      auth.DefaultOptions().FailureBurst,
		BodyReadTimeout:       10 * time.Second,
		NotebookWait:          5 * time.Second,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		DrainTimeout:          25 * time.Second,
		ResultsLinkTTL:        time.Hour,
		// docs/limits.md: what bench-abuse measured with and without. A
		// project may write one largest body at once (a maximum-size batch
		// passes at once; a second waits for the rate), and one at a time.
		ProjectWrites: budget.Limits{
			BytesPerSecond: DefaultProjectWriteBytesPerSecond, BurstBytes: defaultMaxBodyBytes,
			RequestsPerSecond: 10, BurstRequests: 20,
			JobsPerSecond: 5, BurstJobs: 10,
			RefusedPerSecond: 1, BurstRefused: 20,
			InFlightBytes: defaultMaxBodyBytes,
		},
	}
}

// defaultMaxBodyBytes is the default largest request body: a batch whose
// sequence is as large as the CRD allows, and room for its jobs.
const defaultMaxBodyBytes = quantumv1alpha1.MaxSequenceBytes + 256<<10

// DefaultProjectWriteBytesPerSecond is the default rate of a project's write
// budget (docs/limits.md).
const DefaultProjectWriteBytesPerSecond = 256 << 10

// Server is the facade.
type Server struct {
	cfg     Config
	keys    *handlers.Keyring
	cache   cache.Cache
	handler http.Handler
	api     huma.API
}

// now is the clock of the write budget.
var now = time.Now

// Scheme knows the kinds the facade reads and writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, quantumv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// New builds the facade for the cluster of restCfg. Call Start to run it.
func New(restCfg *rest.Config, cfg Config) (*Server, error) {
	if err := cfg.ProjectWrites.Validate(cfg.MaxBodyBytes); err != nil {
		return nil, err
	}
	restCfg = rest.CopyConfig(restCfg)
	// The facade's own traffic is bounded by its clients; the API server's
	// priority and fairness protects the cluster.
	restCfg.QPS, restCfg.Burst = -1, 0
	scheme := Scheme()
	projects, err := labels.NewRequirement(quantumv1alpha1.ProjectIDLabel, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	// The informers hold no sequences, raw shots or large workload configs
	// (slimcache): the handlers read those from the API server for what a
	// response serves.
	notebooks, err := labels.NewRequirement(nbserver.LearnerLabel, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	byObject := map[client.Object]cache.ByObject{
		&corev1.Namespace{}: {Label: labels.NewSelector().Add(*projects)},
		// The notebook proxy's upstreams: notebook servers' slices only.
		&discoveryv1.EndpointSlice{}: {Label: labels.NewSelector().Add(*notebooks)},
	}
	if cfg.ResultsKeySecret != "" {
		// The cache watches that one Secret, and no other.
		ns, name, err := splitSecret(cfg.ResultsKeySecret)
		if err != nil {
			return nil, err
		}
		byObject[&corev1.Secret{}] = cache.ByObject{
			Namespaces: map[string]cache.Config{ns: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", name),
		}
	}
	opts := slimcache.Options(cache.Options{Scheme: scheme, ByObject: byObject})
	c, err := cache.New(restCfg, opts)
	if err != nil {
		return nil, err
	}
	batches, jobs, err := Indexed(context.Background(), c)
	if err != nil {
		return nil, err
	}
	if err := handlers.IndexLearning(context.Background(), c); err != nil {
		return nil, err
	}
	// The quota check reads the cached quotas first (handlers/quota.go):
	// their informer starts, and syncs, with the others.
	if _, err := c.GetInformer(context.Background(), &corev1.ResourceQuota{}); err != nil {
		return nil, err
	}
	plain, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	direct := slimcache.Guard(plain)
	keys, err := resultsKeys(cfg, c)
	if err != nil {
		return nil, err
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = DefaultPublicURL(cfg.Addr)
	}
	var writes *budget.Budget
	writer := direct
	if !cfg.ProjectWrites.Off() {
		// Only the handlers' writes are charged, not the TokenReviews and
		// SubjectAccessReviews of auth.
		writes, writer = budget.New(cfg.ProjectWrites), budget.Client(direct)
	}
	h := &handlers.Handlers{
		Cache: c, Batches: batches, Jobs: jobs, Client: writer, Scheme: scheme,
		Auth: auth.NewReviewer(direct, auth.Options{
			TTL: cfg.AuthCacheTTL, MaxEntries: cfg.AuthCacheEntries, Audiences: cfg.AuthAudiences,
			FailureRate: rate.Limit(cfg.AuthFailureRate), FailureBurst: cfg.AuthFailureBurst,
		}),
		Limits: handlers.Limits{MaxBodyBytes: cfg.MaxBodyBytes, MaxObjectBytes: cfg.MaxObjectBytes, BodyReadTimeout: cfg.BodyReadTimeout, NotebookWait: cfg.NotebookWait,
			MaxSequenceBytes: cfg.MaxSequenceBytes, InlineSequenceBytes: cfg.InlineSequenceBytes, MaxJobsPerBatch: cfg.MaxJobsPerBatch, MaxShotsPerBatch: cfg.MaxShotsPerBatch, MaxInlineResultsBytes: cfg.MaxInlineResultsBytes},
		ResultsKeys:          keys,
		ResultsLinkTTL:       cfg.ResultsLinkTTL,
		PublicURL:            strings.TrimSuffix(cfg.PublicURL, "/"),
		Log:                  cfg.Log,
		AllowPrivateWebhooks: cfg.AllowPrivateWebhooks,
	}
	s := &Server{cfg: cfg, cache: c, keys: keys}
	s.api, s.handler = NewAPI(h, cfg.ClientIPHeader, writes)
	return s, nil
}

// Indexed adds the handlers' indexers to the Batch and Job informers of c and
// returns their stores, which the handlers read without copying objects.
func Indexed(ctx context.Context, c cache.Cache) (batches, jobs toolscache.Indexer, err error) {
	store := func(obj client.Object, ix toolscache.Indexers) (toolscache.Indexer, error) {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return nil, err
		}
		if err := inf.AddIndexers(ix); err != nil {
			return nil, fmt.Errorf("indexing %T: %w", obj, err)
		}
		si, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
		if !ok {
			return nil, fmt.Errorf("the informer of %T exposes no indexer", obj)
		}
		return si.GetIndexer(), nil
	}
	if batches, err = store(&quantumv1alpha1.Batch{}, handlers.BatchIndexers()); err != nil {
		return nil, nil, err
	}
	if jobs, err = store(&quantumv1alpha1.Job{}, handlers.JobIndexers()); err != nil {
		return nil, nil, err
	}
	return batches, jobs, nil
}

// NewAPI builds the huma API and the HTTP handler (router plus middleware)
// of h; clientIPHeader is Config.ClientIPHeader; writes, when not nil, is
// the write budget that h.Client charges (budget.Client).
func NewAPI(h *handlers.Handlers, clientIPHeader string, writes *budget.Budget) (huma.API, http.Handler) {
	huma.NewError = envelope.FromHuma
	router := chi.NewRouter()
	config := huma.DefaultConfig("Tweezer REST facade", "v1")
	config.Info.Description = "The cloud API of neutral-atom batches, jobs and devices, served from Kubernetes custom resources. " +
		"Authenticate with `Authorization: Bearer <token>` (any token the cluster accepts)."
	// No $schema links in bodies: responses keep exactly the documented keys.
	config.CreateHooks = nil
	// /docs is served from the binary (docs.go), not from a CDN.
	config.DocsPath = ""
	config.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "A service-account or OIDC token the cluster accepts (checked with a TokenReview)."},
	}
	serveDocs(router)
	router.Handle(console.Path, console.Handler())
	router.Handle(console.Path+"/*", console.Handler())
	router.Handle(handlers.NotebookProxyPath+"*", h.NotebookProxy())
	api := humachi.New(router, config)
	api.UseMiddleware(authenticate(api, h, clientIP(clientIPHeader)))
	if writes != nil {
		api.UseMiddleware(chargeWrites(api, h, writes))
	}
	h.Register(api)
	return api, gunzip(h.Limits.MaxBodyBytes, countBody(router))
}

// authenticate checks the bearer token of every operation that needs one.
func authenticate(api huma.API, h *handlers.Handlers, client func(huma.Context) string) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		mode, _ := ctx.Operation().Metadata[handlers.MetaAuth].(string)
		if mode == "none" {
			next(ctx)
			return
		}
		token, ok := bearer(ctx.Header("Authorization"))
		if !ok {
			if mode == "optional" {
				next(ctx)
				return
			}
			_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "a bearer token is required (Authorization: Bearer <token>)")
			return
		}
		u, err := h.Auth.Authenticate(ctx.Context(), client(ctx), token)
		var limited *auth.RateLimitError
		if errors.As(err, &limited) {
			h.Log.Info("authentication refused: too many failures", "operation", ctx.Operation().OperationID, "client", client(ctx))
			ctx.SetHeader("Retry-After", strconv.Itoa(int(math.Ceil(limited.RetryAfter.Seconds()))))
			_ = huma.WriteErr(api, ctx, http.StatusTooManyRequests, limited.Error())
			return
		}
		if errors.Is(err, auth.ErrUnauthenticated) {
			h.Log.Info("authentication refused: invalid or expired token", "operation", ctx.Operation().OperationID, "remote", ctx.RemoteAddr())
			_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "the bearer token is invalid or expired")
			return
		}
		if err != nil {
			h.Log.Error(err, "authentication failed", "operation", ctx.Operation().OperationID)
			_ = huma.WriteErr(api, ctx, http.StatusServiceUnavailable, err.Error())
			return
		}
		next(huma.WithContext(ctx, auth.WithUser(ctx.Context(), u)))
	}
}

// clientIP returns how a request's client is told apart for the limit on
// failed authentications: its connection's address, or the last address of
// header when a trusted proxy sets it. An IPv6 client is its /64, the
// smallest network one host is usually given, so that it cannot dodge the
// limit by changing addresses.
func clientIP(header string) func(huma.Context) string {
	return func(ctx huma.Context) string {
		addr := ctx.RemoteAddr()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
		if header != "" {
			if v := ctx.Header(header); v != "" {
				parts := strings.Split(v, ",")
				addr = strings.TrimSpace(parts[len(parts)-1])
			}
		}
		return ClientKey(addr)
	}
}

// ClientKey is the rate-limit key of a client address: an IPv4 address
// itself, an IPv6 address's /64, anything else as given.
func ClientKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// gunzip decompresses gzip request bodies; huma's body limit then caps the
// decompressed size, and this caps the compressed one. The handlers get a
// copy of the request with the body wrapped: net/http, once a handler is
// done, looks at the request's own body to decide whether to read what is
// left of it, and a refusal answered before its body is read must leave
// that body unread (for a client that sent `Expect: 100-continue`, unsent).
func gunzip(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(r.Context())
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		if !strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
			next.ServeHTTP(w, r)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeEnvelope(w, envelope.Errorf(http.StatusBadRequest, "the body is not valid gzip: %v", err))
			return
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{gzipErrors{zr}, r.Body}
		r.Header.Del("Content-Encoding")
		r.ContentLength = -1
		next.ServeHTTP(w, r)
	})
}

// gzipErrors reports corrupt gzip data as a client error rather than an
// internal one (huma answers 500 to read errors that carry no status).
type gzipErrors struct{ zr *gzip.Reader }

func (g gzipErrors) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return n, envelope.Errorf(http.StatusRequestEntityTooLarge, "request body is too large limit=%d bytes", mbe.Limit)
		}
		return n, envelope.Errorf(http.StatusBadRequest, "the gzip body is corrupt: %v", err)
	}
	return n, err
}

func writeEnvelope(w http.ResponseWriter, e *envelope.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.GetStatus())
	_, _ = fmt.Fprintf(w, `{"status":%q,"message":%q,"code":%q,"data":{"description":%q}}`, e.Status, e.Message, e.Code, e.Data.Description)
}

// Handler is the facade's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// API is the huma API (its OpenAPI document).
func (s *Server) API() huma.API { return s.api }

// Cache is the informer cache; Start runs it.
func (s *Server) Cache() cache.Cache { return s.cache }

// StartCache runs the informers and waits until they have synced.
func (s *Server) StartCache(ctx context.Context) error {
	go func() { _ = s.cache.Start(ctx) }()
	if !s.cache.WaitForCacheSync(ctx) {
		return errors.New("the informer cache did not sync")
	}
	if err := s.loadResultsKeys(ctx); err != nil {
		return err
	}
	// Informers start lazily on first use: touch every kind the handlers read.
	for _, l := range []client.ObjectList{&quantumv1alpha1.BatchList{}, &quantumv1alpha1.JobList{}, &quantumv1alpha1.DeviceList{}, &corev1.NamespaceList{}} {
		if err := s.cache.List(ctx, l, client.Limit(1)); err != nil {
			return err
		}
	}
	return nil
}

// Serve runs the cache and serves HTTP on Config.Addr until ctx ends, then
// drains (ServeListener).
func (s *Server) Serve(ctx context.Context) error {
	// The cache outlives ctx: requests in flight read it while they drain.
	cacheCtx, stopCache := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCache()
	if err := s.StartCache(cacheCtx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener serves HTTP on ln until ctx ends (SIGTERM). Then it stops
// accepting and lets the requests in flight finish, within DrainTimeout:
// their contexts do not derive from ctx, so a handler making several writes
// makes them all. Requests still running after DrainTimeout are cut.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	drain, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil {
		_ = srv.Close()
		return fmt.Errorf("draining the requests in flight: %w", err)
	}
	return nil
}
