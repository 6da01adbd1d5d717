// Package metricsauth configures the Prometheus endpoint of the manager and
// of the facade: HTTPS, and every scrape authenticated (TokenReview) and
// authorized (SubjectAccessReview of get on the non-resource URL /metrics)
// by controller-runtime's filters. A scraper's service account needs the
// ClusterRole tweezer-metrics-reader (config/rbac/metrics_reader.yaml); the
// process's own needs create on tokenreviews and subjectaccessreviews.
package metricsauth

import (
	"flag"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Flags are the metrics endpoint's command-line settings.
type Flags struct {
	// Addr is the listen address; "0" disables the endpoint.
	Addr string
	// Insecure serves plain HTTP with no authentication: for a cluster whose
	// scrapers cannot present a token, on a network that is trusted.
	Insecure bool
	// CertDir holds tls.crt and tls.key; empty: a self-signed certificate.
	CertDir string
}

// Bind registers the flags on fs with addr as the default address.
func Bind(fs *flag.FlagSet, addr string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Addr, "metrics-bind-address", addr, "metrics endpoint address, HTTPS with authentication and authorization (0 disables it)")
	fs.BoolVar(&f.Insecure, "metrics-insecure", false, "serve metrics over plain HTTP with no authentication")
	fs.StringVar(&f.CertDir, "metrics-cert-dir", "", "directory with tls.crt and tls.key of the metrics endpoint (default: a self-signed certificate)")
	return f
}

// Options are controller-runtime's metrics server options for f.
func (f *Flags) Options() metricsserver.Options {
	o := metricsserver.Options{BindAddress: f.Addr}
	if f.Insecure || f.Addr == "0" {
		return o
	}
	o.SecureServing = true
	o.FilterProvider = filters.WithAuthenticationAndAuthorization
	o.CertDir = f.CertDir
	return o
}

// Server is the metrics endpoint of f, reviewing scrapers with the cluster
// of cfg; nil when disabled. Its Start serves until its context ends. The
// manager gets the same through its Options.
func (f *Flags) Server(cfg *rest.Config) (metricsserver.Server, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return metricsserver.NewServer(f.Options(), cfg, hc)
}
