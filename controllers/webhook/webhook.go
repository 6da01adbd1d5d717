// Package webhook delivers a terminal batch to its webhook URL: the target
// policy (no loopback, link-local, private, reserved or cluster-internal
// targets unless the operator allows them, ports 80 and 443 unless the
// operator allows more), the payload (the REST API's batch shape), its
// Standard Webhooks signature (sign.go) and one delivery attempt. Retries
// with backoff are the webhook reconciler's (controllers/webhook_delivery.go):
// it calls Deliver again after Backoff(attempt).
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tweezer-dev/tweezer/internal/webhooktarget"
)

// ErrRefused marks a target the policy does not allow; retrying cannot help.
var ErrRefused = errors.New("webhook target refused")

// Policy decides which targets may receive webhooks.
type Policy struct {
	// AllowPrivate allows loopback, link-local, private, reserved and
	// cluster-internal targets (for local mode and tests).
	AllowPrivate bool
	// Ports are the ports a target may use; none means 80 and 443.
	Ports []uint16
	// AnyPort allows every port.
	AnyPort bool
}

// DefaultPorts are the ports a target may use unless the operator allows more.
var DefaultPorts = []uint16{80, 443}

// CheckPort refuses a port the policy does not allow.
func (p Policy) CheckPort(port uint16) error {
	if p.AnyPort {
		return nil
	}
	allowed := p.Ports
	if len(allowed) == 0 {
		allowed = DefaultPorts
	}
	if !slices.Contains(allowed, port) {
		return fmt.Errorf("%w: port %d is not one of the allowed ports %v", ErrRefused, port, allowed)
	}
	return nil
}

// SetPorts sets the allowed ports from a flag's value: comma-separated
// port numbers, or "any".
func (p *Policy) SetPorts(v string) error {
	p.Ports, p.AnyPort = nil, false
	if strings.TrimSpace(v) == "any" {
		p.AnyPort = true
		return nil
	}
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not a port number (1-65535) or \"any\"", f)
		}
		p.Ports = append(p.Ports, uint16(n))
	}
	return nil
}

// urlPort is the port a URL connects to.
func urlPort(u *url.URL) (uint16, error) {
	if s := u.Port(); s != "" {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%w: bad port %q", ErrRefused, s)
		}
		return uint16(n), nil
	}
	if u.Scheme == "https" {
		return 443, nil
	}
	return 80, nil
}

// internalSuffixes are host names that resolve inside the cluster.
var internalSuffixes = []string{".svc", ".cluster.local", ".svc.cluster.local", ".internal", ".local"}

// CheckURL refuses URLs that are not http(s), use a port the policy does not
// allow, or name an internal host or a blocked address.
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
	port, err := urlPort(u)
	if err != nil {
		return nil, err
	}
	if err := p.CheckPort(port); err != nil {
		return nil, err
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

// CheckIP refuses the addresses of webhooktarget.Ranges: loopback,
// link-local, private, shared, reserved, multicast, and the IPv6 ranges that
// embed IPv4 addresses; an IPv4-mapped address is judged by its IPv4 address.
func (p Policy) CheckIP(ip netip.Addr) error {
	if p.AllowPrivate {
		return nil
	}
	if why, blocked := webhooktarget.Blocked(ip); blocked {
		return fmt.Errorf("%w: %s is in %s", ErrRefused, ip, why)
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
			if err := p.CheckPort(ap.Port()); err != nil {
				return err
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
	// Timeout bounds one delivery (default 10 s).
	Timeout time.Duration
	// MaxAttempts bounds the deliveries of one batch (default 5).
	MaxAttempts int
	// BaseBackoff is the wait after the first failure; it doubles per attempt up
	// to a minute (default 1 s).
	BaseBackoff time.Duration

	clientOnce sync.Once
	client     *http.Client
}

// NewSender returns a sender with a 10 s timeout.
func NewSender(p Policy) *Sender {
	return &Sender{Policy: p, Timeout: 10 * time.Second, MaxAttempts: 5, BaseBackoff: time.Second}
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

func (s *Sender) httpClient() *http.Client {
	s.clientOnce.Do(func() {
		timeout := s.Timeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		s.client = s.Policy.Client(timeout)
	})
	return s.client
}

// Message is one signed delivery.
type Message struct {
	// ID is the message id (webhook-id), the same for every attempt.
	ID string
	// Keys are the project's signing keys (see ParseSecret): the current
	// one, and the previous one during a rotation.
	Keys [][]byte
	// Body is the JSON payload.
	Body []byte
	// Time is the attempt's time (webhook-timestamp).
	Time time.Time
}

// Deliver POSTs the message to target once, signed with Standard Webhooks
// headers. A 2xx answer is success; ErrRefused (wrapped) means the target is
// not allowed.
func (s *Sender) Deliver(ctx context.Context, target string, m Message) error {
	u, err := s.Policy.CheckURL(target)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(m.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tweezer-manager")
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(m.Keys, m.ID, ts, m.Body))
	resp, err := s.httpClient().Do(req)
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
