// Package budget is the facade's write budget per project: three token
// buckets per project namespace, one on the bytes its write requests carry,
// one on their number and one on the jobs they create, so that one project
// cannot write faster than kube-apiserver and etcd can store and fan out for
// everyone.
//
// A write request is charged once per project it writes to, when its first
// write to that project reaches the client (Client), after it has been
// authenticated, authorized and validated: a refused request has written
// nothing, and a request that cannot write to a project cannot spend that
// project's budget. Only a request's first write may be refused; once it has
// written, its writes to further projects are charged without refusal (the
// buckets may go below zero), so that no request is left half-written.
//
// Writes refused for any other reason (validation, authorization, a full
// quota: a 4xx) cost nothing from the project's buckets, but they cost the
// facade their decoding and checks. So each user has a third bucket, of
// refused writes: once it is empty, the user is held (Refused, then Admit)
// and its next writes are refused with 429 before their bodies are read,
// as when it ignores a Retry-After.
//
// A project's writes under way at once are bounded too, in bytes
// (InFlightBytes): a large write waits for the project's earlier ones to
// end, so that a project's burst reaches kube-apiserver and etcd one large
// object at a time, not all at once.
//
// The Budget's methods take the time as an argument: the logic is pure and
// tested with a fake clock.
package budget

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"
)

// The limits a refusal names.
const (
	LimitBytes    = "project write bytes"
	LimitRequests = "project write requests"
	LimitJobs     = "project jobs created"
	LimitRefused  = "refused writes"
)

// Limits configure a Budget. A rate of 0 turns that bucket off.
type Limits struct {
	// BytesPerSecond is the rate at which a project regains write bytes.
	BytesPerSecond float64
	// BurstBytes is what a project may write at once; it must hold the
	// largest body the facade accepts (Validate).
	BurstBytes int64
	// RequestsPerSecond is the rate at which a project regains write requests.
	RequestsPerSecond float64
	// BurstRequests is how many write requests a project may make at once.
	BurstRequests int
	// JobsPerSecond is the rate at which a project regains jobs to create
	// (a batch's, or those added to it): each becomes a Job object, its
	// status writes and its results, whatever the size of the request.
	JobsPerSecond float64
	// BurstJobs is how many jobs a project may create at once. A request
	// with more passes when the bucket is full and leaves it in debt: the
	// project's next jobs wait until it is paid back.
	BurstJobs int
	// RefusedPerSecond is the rate at which a user regains refused writes
	// (answered 4xx for another reason than this budget).
	RefusedPerSecond float64
	// BurstRefused is how many refused writes a user may make in a row
	// before it is held.
	BurstRefused int
	// InFlightBytes bounds the bytes of a project's writes under way at
	// once, each counted as what it is charged (at most this bound): a write
	// that would go past it waits until earlier ones end. 0: no bound.
	InFlightBytes int64
}

// Off reports whether no bucket limits anything.
func (l Limits) Off() bool {
	return l.BytesPerSecond <= 0 && l.RequestsPerSecond <= 0 && l.JobsPerSecond <= 0 && l.RefusedPerSecond <= 0 && l.InFlightBytes <= 0
}

// Validate checks that every write the facade accepts can pass: a body of
// maxBody bytes must fit in the byte burst, else it would wait forever.
func (l Limits) Validate(maxBody int64) error {
	switch {
	case l.BytesPerSecond < 0 || l.RequestsPerSecond < 0 || l.JobsPerSecond < 0 || l.RefusedPerSecond < 0:
		return fmt.Errorf("the write budget's rates must not be negative (0 turns a limit off)")
	case l.BytesPerSecond > 0 && l.BurstBytes < maxBody:
		return fmt.Errorf("the project write burst (%d bytes) is below the largest accepted body (%d bytes, --max-body-bytes): such a body could never be written", l.BurstBytes, maxBody)
	case l.RequestsPerSecond > 0 && l.BurstRequests < 1:
		return fmt.Errorf("the project write request burst must be at least 1")
	case l.JobsPerSecond > 0 && l.BurstJobs < 1:
		return fmt.Errorf("the project job burst must be at least 1")
	case l.RefusedPerSecond > 0 && l.BurstRefused < 1:
		return fmt.Errorf("the refused write burst must be at least 1")
	case l.InFlightBytes < 0:
		return fmt.Errorf("the project's write bytes in flight must not be negative")
	}
	return nil
}

// Refusal is a write refused because its project is over its budget, or
// because its user made too many refused writes.
type Refusal struct {
	// Project is the project over its budget; User the user over its
	// refused writes (LimitRefused).
	Project, User string
	// Limit is LimitBytes, LimitRequests or LimitJobs, whichever is
	// furthest from allowing the write, or LimitRefused.
	Limit string
	// RetryAfter is when the write would pass, were nothing else written.
	RetryAfter time.Duration
	limits     Limits
}

// Seconds is RetryAfter in whole seconds, rounded up, at least 1 (the
// Retry-After header).
func (r *Refusal) Seconds() int {
	return max(1, int(math.Ceil(r.RetryAfter.Seconds())))
}

func (r *Refusal) Error() string {
	switch r.Limit {
	case LimitRefused:
		return fmt.Sprintf("%s made more than %d refused writes in a row (one more each %s); retry after %d s (limit: %s)",
			r.User, r.limits.BurstRefused, time.Duration(float64(time.Second)/r.limits.RefusedPerSecond), r.Seconds(), r.Limit)
	case LimitRequests:
		return fmt.Sprintf("project %s makes at most %g write requests per second (%d at once); retry after %d s (limit: %s)",
			r.Project, r.limits.RequestsPerSecond, r.limits.BurstRequests, r.Seconds(), r.Limit)
	case LimitJobs:
		return fmt.Sprintf("project %s creates at most %g jobs per second (%d at once, or one batch of more when none were created lately); retry after %d s (limit: %s)",
			r.Project, r.limits.JobsPerSecond, r.limits.BurstJobs, r.Seconds(), r.Limit)
	}
	return fmt.Sprintf("project %s writes at most %s/s (%s at once); retry after %d s (limit: %s)",
		r.Project, Size(r.limits.BytesPerSecond), Size(float64(r.limits.BurstBytes)), r.Seconds(), r.Limit)
}

// Size writes a byte count in KiB or MiB.
func Size(n float64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.3g MiB", n/(1<<20))
	}
	return fmt.Sprintf("%.3g KiB", n/(1<<10))
}

// sweepEvery is how often idle projects and expired holds are dropped.
const sweepEvery = time.Minute

// Budget holds the buckets of the projects that wrote recently, and the
// users told to wait.
type Budget struct {
	limits Limits

	mu       sync.Mutex
	projects map[string]*buckets
	refused  map[string]*rate.Limiter // by user
	held     map[string]hold          // by user
	flights  map[string]*flight       // by project: its writes under way
	reading  map[string]*flight       // by user: its admitted writes not yet charged (Read)
	probes   uint64                   // numbers the writes let through when a hold ends
	swept    time.Time
}

// hold is a refusal a user was given and the time it told them to wait for.
type hold struct {
	refusal Refusal
	until   time.Time
	// probe is set (non-zero) once the hold has ended and one write has
	// been let through to try: until then covers that write, and the
	// user's other writes stay held (Admit).
	probe uint64
}

// probeWindow is how long a held user's other writes wait for the write
// let through when its hold ended (Admit); past it, another one may try.
const probeWindow = time.Second

type buckets struct{ bytes, requests, jobs *rate.Limiter }

// flight is a project's writes under way, or a user's bodies being read:
// their bytes, held in sem, and how many writes hold or wait for some (the
// entry goes with the last).
type flight struct {
	sem   *semaphore.Weighted
	users int
}

// enter waits until project's writes under way leave room for n more bytes
// (at most InFlightBytes), takes them, and returns the func that gives them
// back. If ctx ends first, it returns ctx's error. Waiters enter in turn: a
// small write waits behind a large one that came first.
func (b *Budget) enter(ctx context.Context, project string, n int64) (func(), error) {
	if b.limits.InFlightBytes <= 0 {
		return func() {}, nil
	}
	return b.take(ctx, b.flights, project, n, b.limits.InFlightBytes)
}

// Read waits until the writes of user being read (admitted, their bodies
// not yet charged) declare at most a byte burst together with this one,
// which declares declared bytes (its Content-Length), counts it among them
// and returns the func that gives its bytes back. If ctx ends first, it
// returns ctx's error. So of a user's large bodies sent at once, one is
// read and charged first; the others are weighed against what it left
// (Spent, Admit) before they are read. A body of unknown size, or no byte
// limit, does not wait.
func (b *Budget) Read(ctx context.Context, user string, declared int64) (func(), error) {
	if b.limits.BytesPerSecond <= 0 || declared <= 0 {
		return func() {}, nil
	}
	return b.take(ctx, b.reading, user, int64(b.cost(declared)), b.limits.BurstBytes)
}

// take waits until key's entry in m has room for n more bytes of bound
// (n is clamped to 1..bound), takes them, and returns the func that gives
// them back; or ctx's error, if it ends first. Waiters take in turn.
func (b *Budget) take(ctx context.Context, m map[string]*flight, key string, n, bound int64) (func(), error) {
	n = min(max(n, 1), bound)
	b.mu.Lock()
	f := m[key]
	if f == nil {
		f = &flight{sem: semaphore.NewWeighted(bound)}
		m[key] = f
	}
	f.users++
	b.mu.Unlock()
	leave := func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if f.users--; f.users == 0 {
			delete(m, key)
		}
	}
	if err := f.sem.Acquire(ctx, n); err != nil {
		leave()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			f.sem.Release(n)
			leave()
		})
	}, nil
}

// New returns a Budget; with l.Off() every write passes.
func New(l Limits) *Budget {
	return &Budget{
		limits: l, projects: map[string]*buckets{}, refused: map[string]*rate.Limiter{}, held: map[string]hold{},
		flights: map[string]*flight{}, reading: map[string]*flight{},
	}
}

// Limits returns the budget's configuration.
func (b *Budget) Limits() Limits { return b.limits }

func (b *Budget) bucketsOf(project string) *buckets {
	p := b.projects[project]
	if p == nil {
		p = &buckets{
			bytes:    rate.NewLimiter(rate.Limit(b.limits.BytesPerSecond), int(b.limits.BurstBytes)),
			requests: rate.NewLimiter(rate.Limit(b.limits.RequestsPerSecond), b.limits.BurstRequests),
			jobs:     rate.NewLimiter(rate.Limit(b.limits.JobsPerSecond), b.limits.BurstJobs),
		}
		b.projects[project] = p
	}
	return p
}

// cost is what a write of size bytes takes from the byte bucket: at most the
// burst, so that no write waits for more than a full bucket (Validate keeps
// accepted bodies within the burst anyway).
func (b *Budget) cost(size int64) int {
	return int(min(max(size, 0), b.limits.BurstBytes))
}

// Take charges project one write request of size bytes that creates jobs
// jobs at now, or refuses it, charging nothing, when a bucket lacks the
// tokens. A request with more jobs than the burst needs a full bucket.
func (b *Budget) Take(now time.Time, project string, size int64, jobs int) *Refusal {
	if b.limits.Off() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	p := b.bucketsOf(project)
	var refusal *Refusal
	wait := func(lim *rate.Limiter, perSecond float64, n int, limit string) {
		if perSecond <= 0 {
			return
		}
		missing := float64(n) - lim.TokensAt(now)
		if missing <= 0 {
			return
		}
		d := time.Duration(missing / perSecond * float64(time.Second))
		if refusal == nil || d > refusal.RetryAfter {
			refusal = &Refusal{Project: project, Limit: limit, RetryAfter: d, limits: b.limits}
		}
	}
	cost := b.cost(size)
	wait(p.bytes, b.limits.BytesPerSecond, cost, LimitBytes)
	wait(p.requests, b.limits.RequestsPerSecond, 1, LimitRequests)
	if jobs > 0 {
		wait(p.jobs, b.limits.JobsPerSecond, min(jobs, b.limits.BurstJobs), LimitJobs)
	}
	if refusal != nil {
		return refusal
	}
	b.spend(now, p, cost, jobs)
	return nil
}

// Force charges project one write request of size bytes that creates jobs
// jobs at now without refusing it: the buckets may go below zero, and the
// project's next writes wait until they are back.
func (b *Budget) Force(now time.Time, project string, size int64, jobs int) {
	if b.limits.Off() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	b.spend(now, b.bucketsOf(project), b.cost(size), jobs)
}

// Spent is told that a write of user has just been charged to project at
// now. If that left the project short of half a byte burst, user's next
// writes are weighed against what the project holds, as after a hold ends
// (Admit): one that declares more than the project can pay for is held,
// unread, until it can. A user already held keeps its hold.
func (b *Budget) Spent(now time.Time, user, project string) {
	if b.limits.BytesPerSecond <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.held[user]; ok {
		return
	}
	if p := b.projects[project]; p == nil || p.bytes.TokensAt(now) >= float64(b.limits.BurstBytes)/2 {
		return
	}
	b.held[user] = hold{refusal: Refusal{Project: project, Limit: LimitBytes, limits: b.limits}, until: now}
}

func (b *Budget) spend(now time.Time, p *buckets, cost, jobs int) {
	if b.limits.BytesPerSecond > 0 {
		p.bytes.ReserveN(now, cost)
	}
	if b.limits.RequestsPerSecond > 0 {
		p.requests.ReserveN(now, 1)
	}
	// A reservation takes at most the burst; more jobs than that go into
	// debt a burst at a time.
	for left := jobs; b.limits.JobsPerSecond > 0 && left > 0; left -= b.limits.BurstJobs {
		p.jobs.ReserveN(now, min(left, b.limits.BurstJobs))
	}
}

// Refused charges user one refused write at now. When its bucket has no
// token left, the user is held until one is back, and the refusal its next
// writes get is returned (the refused write itself keeps its own answer).
func (b *Budget) Refused(now time.Time, user string) *Refusal {
	if b.limits.RefusedPerSecond <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	lim := b.refused[user]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(b.limits.RefusedPerSecond), b.limits.BurstRefused)
		b.refused[user] = lim
	}
	if missing := 1 - lim.TokensAt(now); missing > 0 {
		r := Refusal{User: user, Limit: LimitRefused, RetryAfter: time.Duration(missing / b.limits.RefusedPerSecond * float64(time.Second)), limits: b.limits}
		b.held[user] = hold{refusal: r, until: now.Add(r.RetryAfter)}
		return &r
	}
	lim.ReserveN(now, 1)
	return nil
}

// Hold remembers that user was refused at now: its writes are refused at
// once (Admit) until the time the refusal gave.
func (b *Budget) Hold(now time.Time, user string, r *Refusal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	b.held[user] = hold{refusal: *r, until: now.Add(r.RetryAfter)}
}

// Admit says whether a write of user, whose body declares declared bytes
// (its Content-Length; 0 when unknown), may go ahead at now. It returns the
// refusal user is still held by, its RetryAfter the time left, or nil and
// a func to call with the time the write has ended.
//
// When a hold over a project's bytes has run out, a write that the project
// could not pay for yet stays held until it can, told exactly when, without
// its body being read (the charge is at least the body). Otherwise one
// write goes ahead and the user's others stay held until it ends (or for
// probeWindow at most): of the writes that waited out a hold together, one
// reads its body and tries, not all of them, each to be refused again once
// the first has spent what the project had regained. If that write is
// refused in turn, it holds its user anew (Hold, Refused). If it passes,
// the hold is lifted, unless the project's bytes are still short of half a
// burst: then the user's next writes are weighed in turn as above.
func (b *Budget) Admit(now time.Time, user string, declared int64) (*Refusal, func(time.Time)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.held[user]
	if !ok {
		return nil, func(time.Time) {}
	}
	held := func() (*Refusal, func(time.Time)) {
		out := h.refusal
		out.RetryAfter = h.until.Sub(now)
		return &out, nil
	}
	if h.until.After(now) {
		return held()
	}
	bytes := b.bytesOf(h)
	if bytes != nil && declared > 0 {
		if missing := float64(b.cost(declared)) - bytes.TokensAt(now); missing > 0 {
			h.until = now.Add(time.Duration(missing / b.limits.BytesPerSecond * float64(time.Second)))
			h.probe = 0
			b.held[user] = h
			return held()
		}
	}
	b.probes++
	probe := b.probes
	h.until, h.probe = now.Add(probeWindow), probe
	b.held[user] = h
	return nil, func(end time.Time) {
		b.mu.Lock()
		defer b.mu.Unlock()
		h, ok := b.held[user]
		if !ok || h.probe != probe {
			return // held anew, or another write went ahead after probeWindow
		}
		if bytes := b.bytesOf(h); bytes != nil && bytes.TokensAt(end) < float64(b.limits.BurstBytes)/2 {
			h.until, h.probe = time.Time{}, 0
			b.held[user] = h
			return
		}
		delete(b.held, user)
	}
}

// bytesOf is the byte bucket of the project whose byte limit h is about,
// if it has one (a project with none is idle: its bucket is full).
func (b *Budget) bytesOf(h hold) *rate.Limiter {
	if h.refusal.Limit != LimitBytes || b.limits.BytesPerSecond <= 0 {
		return nil
	}
	if p := b.projects[h.refusal.Project]; p != nil {
		return p.bytes
	}
	return nil
}

// sweep drops, once per sweepEvery, the projects and users whose buckets
// are full (idle long enough: a new bucket is full too, so nothing is lost)
// and the holds that have expired. The maps hold only projects written to,
// or users refused, in the last moments.
func (b *Budget) sweep(now time.Time) {
	if now.Sub(b.swept) < sweepEvery {
		return
	}
	b.swept = now
	for name, p := range b.projects {
		full := (b.limits.BytesPerSecond <= 0 || p.bytes.TokensAt(now) >= float64(b.limits.BurstBytes)) &&
			(b.limits.RequestsPerSecond <= 0 || p.requests.TokensAt(now) >= float64(b.limits.BurstRequests)) &&
			(b.limits.JobsPerSecond <= 0 || p.jobs.TokensAt(now) >= float64(b.limits.BurstJobs))
		if full {
			delete(b.projects, name)
		}
	}
	for user, lim := range b.refused {
		if lim.TokensAt(now) >= float64(b.limits.BurstRefused) {
			delete(b.refused, user)
		}
	}
	for user, h := range b.held {
		if !h.until.After(now) {
			delete(b.held, user)
		}
	}
}
