// Package webhook delivers a terminal batch to its webhook URL: the target
// policy (no loopback, link-local or cluster-internal targets unless the
// operator allows them), the payload (the REST API's batch shape) and one
// delivery attempt. Retries with backoff are the Batch reconciler's: it calls
// Deliver again after Backoff(attempt).
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrRefused marks a target the policy does not allow; retrying cannot help.
var ErrRefused = errors.New("webhook target refused")

// Policy decides which targets may receive webhooks.
type Policy struct {
	// AllowPrivate allows loopback, link-local, private and cluster-internal
	// targets (for local mode and tests).
	AllowPrivate bool
}

// internalSuffixes are host names that resolve inside the cluster.
var internalSuffixes = []string{".svc", ".cluster.local", ".svc.cluster.local", ".internal", ".local"}

// CheckURL refuses URLs that are not http(s) or that name an internal host.
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q is not http or https", ErrRefused, u.Scheme)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return nil, fmt.Errorf("%w: no host", ErrRefused)
	}
	if p.AllowPrivate {
		return u, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckIP(ip); err != nil {
			return nil, err
		}
		return u, nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || !strings.Contains(host, ".") {
		return nil, fmt.Errorf("%w: %s is a local or cluster-internal name", ErrRefused, host)
	}
	for _, s := range internalSuffixes {
		if strings.HasSuffix(host, s) {
			return nil, fmt.Errorf("%w: %s is a cluster-internal name", ErrRefused, host)
		}
	}
	return u, nil
}

// CheckIP refuses loopback, link-local, private (RFC 1918, ULA, CGNAT),
// unspecified and multicast addresses.
func (p Policy) CheckIP(ip netip.Addr) error {
	if p.AllowPrivate {
		return nil
	}
	ip = ip.Unmap()
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsPrivate() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip) {
		return fmt.Errorf("%w: %s is a loopback, link-local or internal address", ErrRefused, ip)
	}
	return nil
}

// Client returns an HTTP client that checks every address it connects to
// (so a name that resolves to an internal address is refused too) and does
// not follow redirects.
func (p Policy) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{
		Timeout: timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrRefused, err)
			}
			return p.CheckIP(ap.Addr())
		},
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{DialContext: d.DialContext, Proxy: nil, MaxIdleConnsPerHost: 2},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Sender delivers payloads.
type Sender struct {
	Policy Policy
	Client *http.Client
	// MaxAttempts bounds the deliveries of one batch (default 5).
	MaxAttempts int
	// BaseBackoff is the wait after the first failure; it doubles per attempt up
	// to a minute (default 1 s).
	BaseBackoff time.Duration
}

// NewSender returns a sender with a 10 s timeout.
func NewSender(p Policy) *Sender {
	return &Sender{Policy: p, Client: p.Client(10 * time.Second), MaxAttempts: 5, BaseBackoff: time.Second}
}

// Backoff is the wait before attempt n+1 after n failed attempts.
func (s *Sender) Backoff(n int) time.Duration {
	d := s.BaseBackoff
	for i := 1; i < n && d < time.Minute; i++ {
		d *= 2
	}
	if d > time.Minute {
		d = time.Minute
	}
	return d
}

// Deliver POSTs body to target once. A 2xx answer is success; ErrRefused
// (wrapped) means the target is not allowed.
func (s *Sender) Deliver(ctx context.Context, target string, body []byte) error {
	u, err := s.Policy.CheckURL(target)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tweezer-manager")
	resp, err := s.Client.Do(req)
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return err
		}
		return fmt.Errorf("POST %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: %s", u.Redacted(), resp.Status)
	}
	return nil
}
