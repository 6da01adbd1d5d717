package budget

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tweezer-dev/tweezer/apiserver/envelope"
)

// Refusals counts the write requests refused for the write budget, by the
// limit (bytes, requests, jobs: the project's; refused: the user's refused
// writes) and the stage: "write" when refused at its first write, "held"
// when refused before its body was read because its user had been told to
// retry later. No project or user label: one series per tenant would grow
// with the tenants.
var Refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tweezer_facade_write_budget_refusals_total",
	Help: "Write requests the facade refused with 429 because their project was over its write budget or their user had made too many refused writes, by limit (bytes, requests, jobs, refused) and stage (write, held).",
}, []string{"limit", "stage"})

func init() { metrics.Registry.MustRegister(Refusals) }

// Count adds a refusal to Refusals.
func Count(r *Refusal, stage string) {
	limit := "bytes"
	switch r.Limit {
	case LimitRequests:
		limit = "requests"
	case LimitJobs:
		limit = "jobs"
	case LimitRefused:
		limit = "refused"
	}
	Refusals.WithLabelValues(limit, stage).Inc()
}

// Problem is the 429 of a refusal, with its Retry-After.
func Problem(r *Refusal) *envelope.Error {
	return envelope.New(http.StatusTooManyRequests, r.Error()).WithHeader("Retry-After", strconv.Itoa(r.Seconds()))
}

// Request is the account of one write request: who makes it, the bytes of
// its body read so far, and the projects it has paid for.
type Request struct {
	budget *Budget
	user   string
	body   *atomic.Int64
	now    func() time.Time
	log    logr.Logger

	mu      sync.Mutex
	written bool
	paid    map[string]bool
	// jobs are the jobs the request creates, by project (CreatesJobs).
	jobs map[string]int
	// leave gives back the bytes the request holds in flight (End).
	leave func()
	// read gives back the bytes its body declared among its user's bodies
	// being read (Budget.Read), once the request has been charged or ended.
	read func()
}

// End gives back what the request holds of its project's writes under way
// (Limits.InFlightBytes) and of its user's bodies being read (Budget.Read);
// call it when the request has ended.
func (r *Request) End() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.leave != nil {
		r.leave()
		r.leave = nil
	}
	r.doneReading()
}

func (r *Request) doneReading() {
	if r.read != nil {
		r.read()
		r.read = nil
	}
}

// NewRequest opens the account of a write request by user whose body bytes
// are counted in body; read, if not nil, gives back what Budget.Read took
// for it, which the request does once it has been charged or has ended.
func (b *Budget) NewRequest(user string, body *atomic.Int64, read func(), now func() time.Time, log logr.Logger) *Request {
	return &Request{budget: b, user: user, body: body, read: read, now: now, log: log, paid: map[string]bool{}, jobs: map[string]int{}}
}

// CreatesJobs tells the account of ctx's request, if any, that it creates n
// jobs in project ns; call it before the request's first write there, which
// pays for them. It reports whether the jobs are paid for: the request is
// accounted and its budget limits the project's jobs.
func CreatesJobs(ctx context.Context, ns string, n int) bool {
	r := requestFrom(ctx)
	if r == nil || r.budget.limits.JobsPerSecond <= 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs[ns] += n
	return true
}

// charge is called before each write of the request to namespace ns, of an
// object of size() bytes: the first write to a project pays for the request,
// the larger of its body and that size, and for the jobs it creates there
// (CreatesJobs); only the request's first write may be refused. The first
// write waits first until the project's writes under way leave room for it
// (Budget.enter), and the request keeps that room until End. Once charged or refused, the request's body no longer counts
// among its user's bodies being read, and the user's next writes are
// weighed against what it left (Budget.Spent, Budget.Hold).
func (r *Request) charge(ctx context.Context, ns string, size func() int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.doneReading()
	first := !r.written
	r.written = true
	if ns == "" || r.paid[ns] {
		return nil
	}
	r.paid[ns] = true
	bytes, jobs := max(size(), r.body.Load()), r.jobs[ns]
	now := r.now()
	if !first {
		r.budget.Force(now, ns, bytes, jobs)
		return nil
	}
	leave, err := r.budget.enter(ctx, ns, bytes)
	if err != nil {
		r.written, r.paid[ns] = false, false
		return envelope.Errorf(http.StatusServiceUnavailable, "the request ended while project %s's earlier writes were under way: %v", ns, err)
	}
	now = r.now()
	refusal := r.budget.Take(now, ns, bytes, jobs)
	if refusal == nil {
		r.leave = leave
		r.budget.Spent(now, r.user, ns)
		return nil
	}
	leave()
	r.written, r.paid[ns] = false, false
	r.budget.Hold(now, r.user, refusal)
	Count(refusal, "write")
	r.log.Info("write refused: the project is over its write budget", "user", r.user, "project", ns, "limit", refusal.Limit, "bytes", bytes, "jobs", jobs, "retryAfter", refusal.Seconds())
	return Problem(refusal)
}

type requestKey struct{}

// WithRequest returns ctx carrying the account r, which Client charges.
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

func requestFrom(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// Client wraps c so that each write made with a context carrying a Request
// is charged to the written object's namespace first; writes without one
// (reads, the facade's own) pass unchanged.
func Client(c client.Client) client.Client { return &charged{Client: c} }

type charged struct{ client.Client }

// encodedSize is the size of obj as sent in a create or an update.
func encodedSize(obj client.Object) int64 {
	var n counter
	if err := json.NewEncoder(&n).Encode(obj); err != nil {
		return 0
	}
	return int64(n)
}

type counter int64

func (n *counter) Write(p []byte) (int, error) {
	*n += counter(len(p))
	return len(p), nil
}

// chargeFor charges the request of ctx, if any, for a write of obj; whole
// says that the write sends the whole object (a create or an update), whose
// size then counts, else only the request's body does (a patch, a delete).
func chargeFor(ctx context.Context, obj client.Object, whole bool) error {
	r := requestFrom(ctx)
	if r == nil {
		return nil
	}
	return r.charge(ctx, obj.GetNamespace(), func() int64 {
		if !whole {
			return 0
		}
		return encodedSize(obj)
	})
}

func (c *charged) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := chargeFor(ctx, obj, true); err != nil {
		return err
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c *charged) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := chargeFor(ctx, obj, true); err != nil {
		return err
	}
	return c.Client.Update(ctx, obj, opts...)
}

func (c *charged) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := chargeFor(ctx, obj, false); err != nil {
		return err
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *charged) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := chargeFor(ctx, obj, false); err != nil {
		return err
	}
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *charged) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	if err := chargeFor(ctx, obj, false); err != nil {
		return err
	}
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

func (c *charged) Status() client.SubResourceWriter {
	return &chargedSub{SubResourceWriter: c.Client.Status()}
}

func (c *charged) SubResource(sub string) client.SubResourceClient {
	sc := c.Client.SubResource(sub)
	return &chargedSubClient{SubResourceClient: sc, w: &chargedSub{SubResourceWriter: sc}}
}

type chargedSub struct{ client.SubResourceWriter }

func (s *chargedSub) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	if err := chargeFor(ctx, obj, false); err != nil {
		return err
	}
	return s.SubResourceWriter.Create(ctx, obj, sub, opts...)
}

func (s *chargedSub) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := chargeFor(ctx, obj, true); err != nil {
		return err
	}
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s *chargedSub) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := chargeFor(ctx, obj, false); err != nil {
		return err
	}
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

type chargedSubClient struct {
	client.SubResourceClient
	w *chargedSub
}

func (s *chargedSubClient) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	return s.w.Create(ctx, obj, sub, opts...)
}

func (s *chargedSubClient) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	return s.w.Update(ctx, obj, opts...)
}

func (s *chargedSubClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	return s.w.Patch(ctx, obj, patch, opts...)
}
