// Package jobbudget paces the Jobs each project's batches fan out into, in
// the manager, whoever created the batches. The facade's write budget
// refuses a project's writes beyond its job rate (and the jobs it charged
// are not charged again here: JobsChargedAnnotation), but a tenant with its
// own token creates Batches straight through kube-apiserver, where
// only the ResourceQuota (how many) and API Priority and Fairness (how many
// requests at once) bind it. Each Job is then created, written at each of
// its transitions and sent to every watcher, and its batch gets a runner:
// this budget keeps that fan-out at a project's rate, so one project's
// hundred batches of a hundred jobs do not take the control plane from the
// others at once.
//
// A project (a namespace) has a bucket of Limits.Burst jobs that refills at
// Limits.PerSecond. A batch books its missing jobs the first time it asks:
// they are taken from the bucket at once, into debt if need be, and the
// batch is told when its jobs may be created: at once if the bucket held
// them, else when it would have. A batch of more jobs than the burst waits
// for a full bucket, as in the facade's job budget (apiserver/budget).
// Bookings are served in the order they were made, so a project's batches
// get their jobs first come, first served: a small batch does not pass a
// large one that waits, and no batch is starved.
package jobbudget

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Defaults: the facade's job rate, and twice its burst (a project's batches
// written straight to kube-apiserver come in bursts that no write budget
// smoothed).
const (
	DefaultPerSecond = 5
	DefaultBurst     = 20
)

// Limits is a project's job rate and burst. A PerSecond of zero or less is
// no limit.
type Limits struct {
	PerSecond float64
	Burst     int
}

// Off reports whether the limits allow any number of jobs.
func (l Limits) Off() bool { return l.PerSecond <= 0 }

// Validate checks a limit that is on.
func (l Limits) Validate() error {
	if !l.Off() && l.Burst < 1 {
		return fmt.Errorf("project-jobs-burst: must be at least 1 when project-jobs-per-second is set, got %d", l.Burst)
	}
	return nil
}

// String says the limits as a tenant reads them.
func (l Limits) String() string {
	return fmt.Sprintf("at most %s jobs per second (%d at once, or one batch of more when none were created lately)",
		strconv.FormatFloat(l.PerSecond, 'f', -1, 64), l.Burst)
}

// Budget holds every project's bucket and the batches' bookings. It is safe
// for concurrent use.
type Budget struct {
	limits Limits

	mu       sync.Mutex
	projects map[string]*bucket
	bookings map[string]booking
	swept    time.Time
}

// bucket holds tokens (jobs) at a time; below zero it is in debt.
type bucket struct {
	tokens float64
	at     time.Time
}

// booking is n jobs of project taken for a batch, which may create them at
// at.
type booking struct {
	project string
	n       int
	at      time.Time
}

// New returns a budget with limits l; with l.Off() every batch passes.
func New(l Limits) *Budget {
	return &Budget{limits: l, projects: map[string]*bucket{}, bookings: map[string]booking{}}
}

// Limits returns the budget's configuration.
func (b *Budget) Limits() Limits { return b.limits }

// level is the bucket's tokens at now: refilled since it was last changed,
// up to the burst.
func (b *Budget) level(k *bucket, now time.Time) float64 {
	elapsed := max(now.Sub(k.at), 0).Seconds()
	return min(k.tokens+elapsed*b.limits.PerSecond, float64(b.limits.Burst))
}

// add changes project's bucket by n tokens at now, up to the burst.
func (b *Budget) add(now time.Time, project string, n float64) float64 {
	k := b.projects[project]
	if k == nil {
		k = &bucket{tokens: float64(b.limits.Burst), at: now}
		b.projects[project] = k
	}
	level := b.level(k, now)
	k.tokens, k.at = min(level+n, float64(b.limits.Burst)), now
	return level
}

// Book asks for n jobs of project for the batch key (namespace/name) at now
// and returns how long until they may be created; zero means now, and the
// jobs are the caller's. The first ask takes them from the bucket, into
// debt if need be, and books them for when the bucket would have held them
// (the burst, for n over it). Later asks are told the time left; once it has
// come the booking is used, and a batch that now misses more or fewer jobs
// than it booked pays or gets back the difference.
func (b *Budget) Book(now time.Time, project, key string, n int) time.Duration {
	if b.limits.Off() || n <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	if bk, ok := b.bookings[key]; ok {
		if left := bk.at.Sub(now); left > 0 {
			return left
		}
		delete(b.bookings, key)
		b.add(now, bk.project, float64(bk.n-n))
		return 0
	}
	level := b.add(now, project, -float64(n))
	// A rounding error's worth short counts as there.
	missing := float64(min(n, b.limits.Burst)) - level
	if missing <= 1e-9 {
		return 0
	}
	wait := time.Duration(missing / b.limits.PerSecond * float64(time.Second))
	b.bookings[key] = booking{project: project, n: n, at: now.Add(wait)}
	return wait
}

// Return gives back n jobs that Book gave for project but that were not
// created (refused by the quota, or made by an earlier reconciliation).
func (b *Budget) Return(now time.Time, project string, n int) {
	if b.limits.Off() || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.add(now, project, float64(n))
}

// Cancel drops the booking of the batch key, which is gone, and gives its
// jobs back to its project.
func (b *Budget) Cancel(now time.Time, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bk, ok := b.bookings[key]; ok {
		delete(b.bookings, key)
		b.add(now, bk.project, float64(bk.n))
	}
}

// sweep forgets, at most once a minute, the buckets that are full again (a
// new bucket is full, so nothing is lost, and the map does not grow with
// every project that ever made a batch) and the bookings whose batch has
// not come for them a minute after their time (it went away unseen).
func (b *Budget) sweep(now time.Time) {
	if now.Sub(b.swept) < time.Minute {
		return
	}
	b.swept = now
	for key, bk := range b.bookings {
		if now.Sub(bk.at) > time.Minute {
			delete(b.bookings, key)
		}
	}
	booked := map[string]bool{}
	for _, bk := range b.bookings {
		booked[bk.project] = true
	}
	for p, k := range b.projects {
		if !booked[p] && b.level(k, now) >= float64(b.limits.Burst) {
			delete(b.projects, p)
		}
	}
}
