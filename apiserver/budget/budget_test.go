package budget

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/tweezer-dev/tweezer/apiserver/envelope"
)

const MiB = 1 << 20

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func limits() Limits {
	return Limits{BytesPerSecond: MiB, BurstBytes: 2 * MiB, RequestsPerSecond: 10, BurstRequests: 3}
}

// A project spends its burst, is refused with the time its bucket needs,
// charged nothing for the refusal, and passes once that time has passed.
func TestTakeRefusesPastTheBurstWithTheTimeToWait(t *testing.T) {
	b := New(limits())
	if r := b.Take(t0, "p", 1536<<10, 0); r != nil {
		t.Fatalf("1.5 MiB of a 2 MiB burst refused: %v", r)
	}
	r := b.Take(t0, "p", MiB, 0)
	if r == nil {
		t.Fatal("1 MiB more passed with 0.5 MiB left")
	}
	if r.Limit != LimitBytes || r.Project != "p" || r.RetryAfter != 500*time.Millisecond || r.Seconds() != 1 {
		t.Fatalf("refusal %+v, want bytes for p after 500ms (1 s)", r)
	}
	want := "project p writes at most 1 MiB/s (2 MiB at once); retry after 1 s (limit: project write bytes)"
	if r.Error() != want {
		t.Fatalf("message %q, want %q", r.Error(), want)
	}
	// The refusal took nothing: 499 ms later it is still refused, by 1 ms.
	if r := b.Take(t0.Add(499*time.Millisecond), "p", MiB, 0); r == nil || r.RetryAfter > 2*time.Millisecond {
		t.Fatalf("at 499 ms: %+v, want a refusal of about 1 ms", r)
	}
	if r := b.Take(t0.Add(500*time.Millisecond), "p", MiB, 0); r != nil {
		t.Fatalf("at 500 ms the bucket holds 1 MiB, refused: %v", r)
	}
}

// Projects have buckets of their own.
func TestProjectsAreIndependent(t *testing.T) {
	b := New(limits())
	if r := b.Take(t0, "a", 2*MiB, 0); r != nil {
		t.Fatal(r)
	}
	if r := b.Take(t0, "a", 1, 0); r == nil {
		t.Fatal("a's empty bucket gave a byte")
	}
	if r := b.Take(t0, "b", 2*MiB, 0); r != nil {
		t.Fatalf("b refused for a's writes: %v", r)
	}
}

// The request bucket limits small writes; a refusal names the limit further
// from allowing it.
func TestRequestsAreLimitedToo(t *testing.T) {
	b := New(limits())
	for i := range 3 {
		if r := b.Take(t0, "p", 100, 0); r != nil {
			t.Fatalf("request %d of a burst of 3 refused: %v", i, r)
		}
	}
	r := b.Take(t0, "p", 100, 0)
	if r == nil || r.Limit != LimitRequests || r.RetryAfter != 100*time.Millisecond {
		t.Fatalf("4th request: %+v, want the request limit, after 100ms", r)
	}
	if !strings.Contains(r.Error(), "project p makes at most 10 write requests per second (3 at once); retry after 1 s (limit: project write requests)") {
		t.Fatalf("message %q", r.Error())
	}
	// Out of both: the byte bucket, 2 s away, is named.
	b = New(limits())
	for range 3 {
		b.Force(t0, "p", 2*MiB, 0)
	}
	if r := b.Take(t0, "p", 1, 0); r == nil || r.Limit != LimitBytes || r.RetryAfter < 4*time.Second {
		t.Fatalf("got %+v, want the byte limit about 4 s away", r)
	}
}

// A write larger than the burst costs a full bucket: it waits at most one
// refill, never forever.
func TestALargerWriteThanTheBurstIsNotStarved(t *testing.T) {
	b := New(limits())
	if r := b.Take(t0, "p", 10*MiB, 0); r != nil {
		t.Fatalf("a full bucket refused a write over the burst: %v", r)
	}
	r := b.Take(t0, "p", 10*MiB, 0)
	if r == nil || r.RetryAfter != 2*time.Second {
		t.Fatalf("got %+v, want a refusal for 2 s (one refill of the burst)", r)
	}
	if r := b.Take(t0.Add(2*time.Second), "p", 10*MiB, 0); r != nil {
		t.Fatalf("after one refill: %v", r)
	}
}

// Force charges into debt; later writes wait for it to be paid back.
func TestForceGoesIntoDebt(t *testing.T) {
	b := New(limits())
	b.Force(t0, "p", 2*MiB, 0)
	b.Force(t0, "p", 2*MiB, 0)
	r := b.Take(t0, "p", 1, 0)
	if r == nil || r.RetryAfter < 2*time.Second {
		t.Fatalf("after 4 MiB forced into a 2 MiB bucket: %+v, want about 2 s", r)
	}
	if r := b.Take(t0.Add(2*time.Second+time.Millisecond), "p", 1, 0); r != nil {
		t.Fatalf("after the debt was paid back: %v", r)
	}
}

// Rate 0 turns a limit off.
func TestZeroRateIsOff(t *testing.T) {
	b := New(Limits{RequestsPerSecond: 1, BurstRequests: 1})
	if r := b.Take(t0, "p", 100*MiB, 0); r != nil {
		t.Fatalf("no byte limit, refused: %v", r)
	}
	if r := b.Take(t0, "p", 0, 0); r == nil || r.Limit != LimitRequests {
		t.Fatalf("got %+v, want the request limit", r)
	}
	off := New(Limits{})
	for range 100 {
		if r := off.Take(t0, "p", 100*MiB, 0); r != nil {
			t.Fatal(r)
		}
	}
}

// The burst must hold the largest accepted body.
func TestValidate(t *testing.T) {
	if err := limits().Validate(2 * MiB); err != nil {
		t.Fatal(err)
	}
	err := limits().Validate(2*MiB + 1)
	if err == nil || !strings.Contains(err.Error(), "below the largest accepted body (2097153 bytes, --max-body-bytes)") {
		t.Fatalf("got %v", err)
	}
	if err := (Limits{BurstBytes: 1}).Validate(2 * MiB); err != nil {
		t.Fatalf("with no byte limit the burst does not matter: %v", err)
	}
	if err := (Limits{RequestsPerSecond: 1}).Validate(0); err == nil {
		t.Fatal("a request burst of 0 passed")
	}
	if err := (Limits{BytesPerSecond: -1}).Validate(0); err == nil {
		t.Fatal("a negative rate passed")
	}
}

// A held user is refused until the time it was told, with the time left.
func TestHold(t *testing.T) {
	b := New(limits())
	b.Hold(t0, "alice", &Refusal{Project: "p", Limit: LimitBytes, RetryAfter: 1500 * time.Millisecond, limits: limits()})
	r := held(b, t0.Add(time.Second), "alice")
	if r == nil || r.RetryAfter != 500*time.Millisecond || r.Project != "p" {
		t.Fatalf("got %+v, want p with 500ms left", r)
	}
	if r := held(b, t0.Add(time.Second), "bob"); r != nil {
		t.Fatalf("bob held: %v", r)
	}
	if r := held(b, t0.Add(1500*time.Millisecond), "alice"); r != nil {
		t.Fatalf("still held at the time given: %v", r)
	}
}

// held is Admit's refusal; a write it lets through is left unended.
func held(b *Budget, now time.Time, user string) *Refusal {
	r, _ := b.Admit(now, user, 0)
	return r
}

// When a hold ends, one write goes ahead; the user's others stay held
// until it ends, or for probeWindow at most. A write refused in turn holds
// the user anew, and its end does not lift the new hold.
func TestOneWriteTriesWhenAHoldEnds(t *testing.T) {
	b := New(limits())
	refusal := &Refusal{Project: "p", Limit: LimitBytes, RetryAfter: time.Second, limits: limits()}
	b.Hold(t0, "alice", refusal)
	end := t0.Add(time.Second)
	r, first := b.Admit(end, "alice", 0)
	if r != nil || first == nil {
		t.Fatalf("the first write after the hold: %v, want it let through", r)
	}
	for _, at := range []time.Duration{0, 400 * time.Millisecond} {
		r, done := b.Admit(end.Add(at), "alice", 0)
		if r == nil || done != nil || r.Project != "p" || r.Limit != LimitBytes || r.RetryAfter != probeWindow-at {
			t.Fatalf("another write %s after the hold ended: %+v, want held by p's bytes for %s", at, r, probeWindow-at)
		}
	}
	if r := held(b, end, "bob"); r != nil {
		t.Fatalf("bob held by alice's probe: %v", r)
	}
	first(end.Add(500 * time.Millisecond))
	if r := held(b, end.Add(500*time.Millisecond), "alice"); r != nil {
		t.Fatalf("still held after the first write ended well: %v", r)
	}

	// The write let through is refused: a new hold, which its end keeps.
	b.Hold(t0, "carol", refusal)
	_, first = b.Admit(end, "carol", 0)
	b.Hold(end, "carol", &Refusal{Project: "p", Limit: LimitBytes, RetryAfter: 2 * time.Second, limits: limits()})
	first(end)
	if r := held(b, end.Add(time.Second), "carol"); r == nil || r.RetryAfter != time.Second {
		t.Fatalf("carol's new hold after her probe was refused: %+v, want 1s left", r)
	}

	// A write let through that does not end within probeWindow: the next
	// goes ahead, and the first one's end does not lift the second's hold.
	b.Hold(t0, "dave", refusal)
	_, slow := b.Admit(end, "dave", 0)
	late := end.Add(probeWindow)
	r, second := b.Admit(late, "dave", 0)
	if r != nil || second == nil {
		t.Fatalf("a write after the probe window: %v, want it let through", r)
	}
	slow(late)
	if r := held(b, late.Add(100*time.Millisecond), "dave"); r == nil {
		t.Fatal("the slow write's end lifted the hold of the one let through after it")
	}
	second(late)
	if r := held(b, late.Add(100*time.Millisecond), "dave"); r != nil {
		t.Fatalf("held after the second write ended: %v", r)
	}
}

// Once a hold over a project's bytes has run out, a write the project cannot
// pay for yet (its Content-Length is more than the bucket holds) stays held
// until it can, told exactly when; a smaller one goes ahead. While the
// project stays short of half a burst, the user's writes are weighed one at
// a time; once it has more, the hold is lifted.
func TestAHeldWriteWaitsForItsDeclaredBytes(t *testing.T) {
	b := New(limits()) // 1 MiB/s, burst 2 MiB
	if r := b.Take(t0, "p", 2*MiB, 0); r != nil {
		t.Fatal(r)
	}
	b.Hold(t0, "alice", b.Take(t0, "p", MiB, 0))
	end := t0.Add(time.Second) // p holds 1 MiB
	r, done := b.Admit(end, "alice", 1536<<10)
	if r == nil || done != nil || r.Project != "p" || r.Limit != LimitBytes || r.RetryAfter != 500*time.Millisecond {
		t.Fatalf("a 1.5 MiB write with 1 MiB in the bucket: %+v, want held 500ms for p's bytes", r)
	}
	// The hold now runs to then: a write of any size waits.
	if r := held(b, end.Add(100*time.Millisecond), "alice"); r == nil || r.RetryAfter != 400*time.Millisecond {
		t.Fatalf("a write of unknown size during the new hold: %+v, want 400ms left", r)
	}
	then := end.Add(500 * time.Millisecond) // p holds 1.5 MiB
	r, done = b.Admit(then, "alice", 1536<<10)
	if r != nil {
		t.Fatalf("the 1.5 MiB write once p holds it: %v", r)
	}
	if r := b.Take(then, "p", 1536<<10, 0); r != nil {
		t.Fatal(r)
	}
	done(then) // p holds nothing: the record stays, the next write is weighed
	if r := held(b, then, "alice"); r != nil {
		t.Fatalf("a write of unknown size after the first passed: %v, want it let through to try", r)
	}
	if r, _ := b.Admit(then.Add(100*time.Millisecond), "alice", 200<<10); r == nil || r.RetryAfter != 900*time.Millisecond {
		t.Fatalf("another write while the one let through runs: %+v, want the rest of the probe window", r)
	}

	b.Hold(then, "bob", &Refusal{Project: "p", Limit: LimitBytes, RetryAfter: time.Second, limits: limits()})
	later := then.Add(time.Second) // p holds 1 MiB: half a burst
	r, done = b.Admit(later, "bob", 100)
	if r != nil {
		t.Fatalf("a 100-byte write with 1 MiB in the bucket: %v", r)
	}
	done(later)
	if r, d := b.Admit(later, "bob", 0); r != nil || d == nil {
		t.Fatalf("bob's next write once p holds half a burst: %v, want the hold lifted", r)
	}
	if _, ok := b.held["bob"]; ok {
		t.Fatal("the hold is still recorded after it was lifted")
	}
}

// A user makes its burst of refused writes, then is held until one is back;
// users are independent, and the project buckets are not touched.
func TestRefusedWritesHoldTheirUser(t *testing.T) {
	l := limits()
	l.RefusedPerSecond, l.BurstRefused = 2, 3
	b := New(l)
	for i := range 3 {
		if r := b.Refused(t0, "mallory"); r != nil {
			t.Fatalf("refused write %d of a burst of 3 held its user: %v", i+1, r)
		}
		if r := held(b, t0, "mallory"); r != nil {
			t.Fatalf("held after %d refused writes: %v", i+1, r)
		}
	}
	r := b.Refused(t0, "mallory")
	if r == nil || r.Limit != LimitRefused || r.User != "mallory" || r.RetryAfter != 500*time.Millisecond {
		t.Fatalf("the 4th refused write: %+v, want mallory held for 500ms", r)
	}
	want := "mallory made more than 3 refused writes in a row (one more each 500ms); retry after 1 s (limit: refused writes)"
	if r.Error() != want {
		t.Fatalf("message %q, want %q", r.Error(), want)
	}
	if h := held(b, t0.Add(200*time.Millisecond), "mallory"); h == nil || h.Limit != LimitRefused || h.RetryAfter != 300*time.Millisecond {
		t.Fatalf("held: %+v, want refused writes with 300ms left", h)
	}
	if h := held(b, t0, "alice"); h != nil || b.Refused(t0, "alice") != nil {
		t.Fatalf("alice is held by mallory's refusals: %v", h)
	}
	if r := b.Take(t0, "p", MiB, 0); r != nil {
		t.Fatalf("refused writes spent a project's budget: %v", r)
	}
	// Once the hold is over, one more refused write passes, the next holds.
	later := t0.Add(500 * time.Millisecond)
	if held(b, later, "mallory") != nil || b.Refused(later, "mallory") != nil {
		t.Fatal("still held when a refused write is back")
	}
	if r := b.Refused(later, "mallory"); r == nil {
		t.Fatal("a second refused write with one token passed")
	}
	// Off at rate 0.
	off := New(limits())
	for range 100 {
		if r := off.Refused(t0, "mallory"); r != nil {
			t.Fatal(r)
		}
	}
	if err := (Limits{RefusedPerSecond: 1}).Validate(0); err == nil {
		t.Fatal("a refused write burst of 0 passed")
	}
	if (Limits{RefusedPerSecond: 1, BurstRefused: 1}).Off() {
		t.Fatal("a budget of refused writes alone is off")
	}
}

// Idle projects (full buckets) and expired holds are dropped; a project
// still refilling is kept.
func TestSweepEvictsIdleProjects(t *testing.T) {
	b := New(limits())
	for _, p := range []string{"a", "b", "c"} {
		if r := b.Take(t0, p, MiB, 0); r != nil {
			t.Fatal(r)
		}
	}
	b.Hold(t0, "alice", &Refusal{RetryAfter: time.Second})
	b.limits.RefusedPerSecond, b.limits.BurstRefused = 1, 5
	if r := b.Refused(t0, "mallory"); r != nil {
		t.Fatal(r)
	}
	later := t0.Add(sweepEvery)
	b.Force(later, "c", 100*MiB, 0) // c wrote again: its bucket is empty
	if len(b.projects) != 1 || b.projects["c"] == nil || len(b.held) != 0 || len(b.refused) != 0 {
		t.Fatalf("after a sweep: projects %v, held %v, refused %v; want only c", b.projects, b.held, b.refused)
	}
	// Swept at most once per sweepEvery: the next minute keeps c until it refills.
	if r := b.Take(later.Add(time.Second), "d", 1, 0); r != nil || len(b.projects) != 2 {
		t.Fatalf("refusal %v, projects %v, want c and d", r, b.projects)
	}
	if r := b.Take(later.Add(sweepEvery+time.Second), "e", 1, 0); r != nil {
		t.Fatal(r)
	}
	if b.projects["c"] != nil || b.projects["d"] != nil || len(b.projects) != 1 {
		t.Fatalf("projects %v, want e only", b.projects)
	}
}

// A request pays once per project, at its first write there; only its first
// write may be refused, and then it is not charged; it pays the larger of its
// body and the object it writes whole.
func TestRequestCharges(t *testing.T) {
	b := New(Limits{BytesPerSecond: MiB, BurstBytes: 2 * MiB, RequestsPerSecond: 100, BurstRequests: 100})
	var writes []string
	c := Client(interceptor.NewClient(nil, interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			writes = append(writes, "create "+obj.GetNamespace())
			return nil
		},
		Delete: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.DeleteOption) error {
			writes = append(writes, "delete "+obj.GetNamespace())
			return nil
		},
	}))
	clock := t0
	now := func() time.Time { return clock }
	open := func(body int64) context.Context {
		n := new(atomic.Int64)
		n.Store(body)
		return WithRequest(context.Background(), b.NewRequest("alice", n, nil, now, logr.Discard()))
	}
	cm := func(ns string, size int) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x"}, Data: map[string]string{"k": strings.Repeat("x", size)}}
	}

	// A small body writing a 1.5 MiB object pays 1.5 MiB; its delete in the
	// same project is free.
	ctx := open(10)
	if err := c.Create(ctx, cm("p", 1536<<10)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, cm("p", 0)); err != nil {
		t.Fatal(err)
	}
	// A 1 MiB body is refused at its first write: nothing written.
	err := c.Create(open(MiB), cm("p", 10))
	var e *envelope.Error
	if !errors.As(err, &e) || e.GetStatus() != http.StatusTooManyRequests || e.GetHeaders().Get("Retry-After") != "1" ||
		!strings.Contains(e.Error(), "limit: project write bytes") {
		t.Fatalf("got %v, want 429 with Retry-After 1 naming the byte limit", err)
	}
	if len(writes) != 2 {
		t.Fatalf("writes %v, want the create and delete of the first request only", writes)
	}
	// alice is held until then, whatever the project.
	if r := held(b, clock.Add(100*time.Millisecond), "alice"); r == nil {
		t.Fatal("alice not held after a refusal")
	}
	// Another project's first write passes; then p's write of the same
	// request is charged without refusal, into debt.
	ctx = open(MiB)
	if err := c.Create(ctx, cm("q", 10)); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, cm("p", 10)); err != nil {
		t.Fatalf("a request's second write was refused: %v", err)
	}
	clock = clock.Add(time.Second) // p: 0.5 MiB - 1 MiB + 1 MiB = 0.5 MiB
	if err := c.Create(open(MiB), cm("p", 10)); err == nil {
		t.Fatal("p's debt was not charged")
	}
	// Writes without an account pass unchanged.
	if err := c.Create(context.Background(), cm("p", 10)); err != nil {
		t.Fatal(err)
	}
	if len(writes) != 5 {
		t.Fatalf("writes %v", writes)
	}
}

// A project's writes under way are bounded in bytes: beside a large write a
// small one passes, a second large one waits until the first request ends,
// a large one in another project passes at once; a write whose request
// ends while it waits gets 503 and writes nothing.
func TestAProjectsLargeWritesGoOneAtATime(t *testing.T) {
	b := New(Limits{BytesPerSecond: 100 * MiB, BurstBytes: 100 * MiB, RequestsPerSecond: 100, BurstRequests: 100, InFlightBytes: MiB + MiB/4})
	written := make(chan string, 10)
	c := Client(interceptor.NewClient(nil, interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			written <- obj.GetNamespace() + "/" + obj.GetName()
			return nil
		},
	}))
	start := func(ctx context.Context, body int64) (*Request, context.Context) {
		n := new(atomic.Int64)
		n.Store(body)
		r := b.NewRequest("alice", n, nil, time.Now, logr.Discard())
		return r, WithRequest(ctx, r)
	}
	obj := func(ns, name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	expectWrite := func(want string) {
		t.Helper()
		select {
		case got := <-written:
			if got != want {
				t.Fatalf("wrote %s, want %s", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s was not written", want)
		}
	}
	expectNone := func(what string) {
		t.Helper()
		select {
		case got := <-written:
			t.Fatalf("%s written while %s", got, what)
		case <-time.After(100 * time.Millisecond):
		}
	}

	first, ctx1 := start(context.Background(), MiB)
	if err := c.Create(ctx1, obj("p", "first")); err != nil {
		t.Fatal(err)
	}
	expectWrite("p/first")
	_, small := start(context.Background(), 100<<10)
	if err := c.Create(small, obj("p", "small")); err != nil {
		t.Fatal(err)
	}
	expectWrite("p/small")
	second, ctx2 := start(context.Background(), MiB)
	done := make(chan error, 1)
	go func() { done <- c.Create(ctx2, obj("p", "second")) }()
	expectNone("the first 1 MiB write of p is under way")
	_, other := start(context.Background(), MiB)
	if err := c.Create(other, obj("q", "other")); err != nil {
		t.Fatal(err)
	}
	expectWrite("q/other")

	// A third large write gives up while it waits: 503, nothing written.
	gone, cancel := context.WithCancel(context.Background())
	_, ctx3 := start(gone, MiB)
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- c.Create(ctx3, obj("p", "third")) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	var e *envelope.Error
	if err := <-gaveUp; !errors.As(err, &e) || e.GetStatus() != http.StatusServiceUnavailable || !strings.Contains(e.Error(), "earlier writes were under way") {
		t.Fatalf("a write whose request ended while it waited: %v, want 503", err)
	}

	first.End()
	expectWrite("p/second")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	second.End()
	second.End() // ending twice gives back nothing more
	b.mu.Lock()
	left := len(b.flights)
	b.mu.Unlock()
	if left != 2 { // the small write's and q's requests have not ended
		t.Fatalf("%d projects with writes under way, want 2 (p's small one, q's)", left)
	}
}

// A write refused for its project's bytes gives back the room it waited for:
// the project's next write under the bound does not wait for the refused
// request to end.
func TestARefusedWriteLeavesNoBytesInFlight(t *testing.T) {
	b := New(Limits{BytesPerSecond: 1, BurstBytes: MiB, InFlightBytes: MiB})
	c := Client(interceptor.NewClient(nil, interceptor.Funcs{
		Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error { return nil },
	}))
	open := func(body int64) (*Request, context.Context) {
		n := new(atomic.Int64)
		n.Store(body)
		r := b.NewRequest("alice", n, nil, time.Now, logr.Discard())
		return r, WithRequest(context.Background(), r)
	}
	first, ctx := open(MiB)
	if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "p", Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	first.End()
	_, ctx = open(MiB)
	var e *envelope.Error
	if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "p", Name: "b"}}); !errors.As(err, &e) || e.GetStatus() != http.StatusTooManyRequests {
		t.Fatalf("a second 1 MiB write with the bucket empty: %v, want 429", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.flights) != 0 {
		t.Fatalf("the refused request still holds bytes in flight: %v", b.flights)
	}
}

// A user's bodies being read at once declare at most a byte burst: a
// second 1.5 MiB body waits until the first gives its bytes back, a small
// one and another user's pass beside it, and bodies of unknown size never
// wait; the entry goes with the last body.
func TestAUsersLargeBodiesAreReadInTurn(t *testing.T) {
	b := New(limits()) // burst 2 MiB
	ctx := context.Background()
	first, err := b.Read(ctx, "alice", 1536<<10)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.Read(short, "alice", 1536<<10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second 1.5 MiB body beside the first: %v, want it to wait", err)
	}
	for _, r := range []struct {
		user     string
		declared int64
	}{{"alice", 100 << 10}, {"alice", 0}, {"bob", 1536 << 10}} {
		soon, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		release, err := b.Read(soon, r.user, r.declared)
		cancel()
		if err != nil {
			t.Fatalf("%s's body of %d bytes beside alice's first: %v, want it read at once", r.user, r.declared, err)
		}
		release()
	}
	second := make(chan func())
	go func() {
		release, err := b.Read(ctx, "alice", 1536<<10)
		if err != nil {
			t.Error(err)
		}
		second <- release
	}()
	select {
	case <-second:
		t.Fatal("the second body was read while the first still counted")
	case <-time.After(50 * time.Millisecond):
	}
	first()
	first() // giving back twice gives back nothing more
	(<-second)()
	if len(b.reading) != 0 {
		t.Fatalf("entries left after every body gave its bytes back: %v", b.reading)
	}
	if release, err := New(Limits{InFlightBytes: MiB}).Read(ctx, "alice", 5*MiB); err != nil || release == nil {
		t.Fatalf("without a byte limit: %v, want no wait", err)
	}
}

// A write that leaves its project short of half a byte burst has its
// user's next writes weighed against what the project holds: one that
// declares more is held, unread, exactly until the project can pay for
// it; another user is not held, nor is a user whose write left more. The
// request gives back its place among its user's bodies being read once it
// is charged, not again when it ends.
func TestAWriteThatLeavesItsProjectShortWeighsTheNext(t *testing.T) {
	b := New(limits()) // 1 MiB/s, burst 2 MiB
	c := Client(interceptor.NewClient(nil, interceptor.Funcs{
		Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error { return nil },
	}))
	write := func(user, ns string, body int64) {
		t.Helper()
		n := new(atomic.Int64)
		n.Store(body)
		released := 0
		r := b.NewRequest(user, n, func() { released++ }, func() time.Time { return t0 }, logr.Discard())
		obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x"}}
		if err := c.Create(WithRequest(context.Background(), r), obj); err != nil {
			t.Fatal(err)
		}
		if released != 1 {
			t.Fatalf("the charged request gave its place back %d times, want once", released)
		}
		r.End()
		if released != 1 {
			t.Fatalf("the place was given back again at the end (%d)", released)
		}
	}

	write("alice", "p", 1536<<10) // p holds 0.5 MiB
	r, done := b.Admit(t0, "alice", MiB)
	if r == nil || done != nil || r.Project != "p" || r.Limit != LimitBytes || r.RetryAfter != 500*time.Millisecond {
		t.Fatalf("alice's next 1 MiB write: %+v, want held 500ms for p's bytes", r)
	}
	if r, _ := b.Admit(t0, "bob", MiB); r != nil {
		t.Fatalf("bob held by alice's write: %v", r)
	}
	if r, _ := b.Admit(t0.Add(500*time.Millisecond), "alice", MiB); r != nil {
		t.Fatalf("alice's 1 MiB write once p holds it: %v", r)
	}

	write("carol", "q", MiB/2) // q holds 1.5 MiB
	if _, ok := b.held["carol"]; ok {
		t.Fatal("a write that left its project more than half a burst weighs its user's next writes")
	}
}

// A project's jobs are limited apart from its bytes and requests: a burst
// of jobs passes, the next write that creates jobs is refused with the time
// the bucket needs, while a write creating none passes; a batch of more
// jobs than the burst passes once the bucket is full and leaves it in debt,
// which the next jobs wait for. Another project is not touched.
func TestAProjectsJobsAreLimited(t *testing.T) {
	b := New(Limits{RequestsPerSecond: 100, BurstRequests: 100, JobsPerSecond: 5, BurstJobs: 10})
	for i := range 2 {
		if r := b.Take(t0, "p", 100, 5); r != nil {
			t.Fatalf("batch %d of 5 jobs in a burst of 10 refused: %v", i, r)
		}
	}
	r := b.Take(t0, "p", 100, 5)
	if r == nil || r.Limit != LimitJobs || r.RetryAfter != time.Second {
		t.Fatalf("a third batch of 5 jobs: %+v, want the job limit, after 1 s", r)
	}
	want := "project p creates at most 5 jobs per second (10 at once, or one batch of more when none were created lately); retry after 1 s (limit: project jobs created)"
	if r.Error() != want {
		t.Fatalf("message %q, want %q", r.Error(), want)
	}
	if r := b.Take(t0, "p", 100, 0); r != nil {
		t.Fatalf("a write creating no job, with the job bucket empty: %v", r)
	}
	if r := b.Take(t0, "q", 100, 10); r != nil {
		t.Fatalf("q refused for p's jobs: %v", r)
	}

	// 25 jobs at once: refused until the bucket is full, then into debt.
	if r := b.Take(t0.Add(time.Second), "p", 100, 25); r == nil || r.RetryAfter != time.Second {
		t.Fatalf("25 jobs with 5 in the bucket: %+v, want a refusal for 1 s (until it is full)", r)
	}
	if r := b.Take(t0.Add(2*time.Second), "p", 100, 25); r != nil {
		t.Fatalf("25 jobs with a full bucket of 10: %v", r)
	}
	// The bucket is at -15: one job waits 16 jobs' time, 3.2 s.
	if r := b.Take(t0.Add(2*time.Second), "p", 100, 1); r == nil || r.RetryAfter != 3200*time.Millisecond {
		t.Fatalf("a job after 25: %+v, want 3.2 s", r)
	}
	// Force charges jobs without refusal.
	b.Force(t0.Add(2*time.Second), "q", 100, 30)
	if r := b.Take(t0.Add(2*time.Second), "q", 100, 1); r == nil || r.Limit != LimitJobs {
		t.Fatalf("q after 30 forced jobs: %+v, want the job limit", r)
	}
	if err := (Limits{JobsPerSecond: 1}).Validate(0); err == nil || !strings.Contains(err.Error(), "job burst") {
		t.Fatalf("a job rate without a burst: %v", err)
	}
	if err := (Limits{JobsPerSecond: -1}).Validate(0); err == nil {
		t.Fatal("a negative job rate was accepted")
	}
}

// A request pays for the jobs it declares in the project it creates them
// in, at its first write there; its writes to another project pay none.
func TestARequestPaysForItsJobsWhereItCreatesThem(t *testing.T) {
	b := New(Limits{JobsPerSecond: 1, BurstJobs: 5})
	c := Client(interceptor.NewClient(nil, interceptor.Funcs{
		Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error { return nil },
	}))
	write := func(ns string, jobs map[string]int) error {
		ctx := WithRequest(context.Background(), b.NewRequest("alice", new(atomic.Int64), nil, func() time.Time { return t0 }, logr.Discard()))
		for p, n := range jobs {
			CreatesJobs(ctx, p, n)
		}
		return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x"}})
	}
	if err := write("q", map[string]int{"p": 5}); err != nil {
		t.Fatal(err)
	}
	if err := write("p", map[string]int{"p": 5}); err != nil {
		t.Fatalf("p's 5 jobs, after a write to q that declared them for p: %v", err)
	}
	var e *envelope.Error
	if err := write("p", map[string]int{"p": 1}); !errors.As(err, &e) || e.GetStatus() != http.StatusTooManyRequests || !strings.Contains(e.Error(), "limit: project jobs created") {
		t.Fatalf("a sixth job in p: %v, want 429 naming the job limit", err)
	}
	if err := write("p", nil); err != nil {
		t.Fatalf("a write to p creating no job: %v", err)
	}
	if got := testutil.ToFloat64(Refusals.WithLabelValues("jobs", "write")); got != 1 {
		t.Fatalf("refusals counted for jobs at their write: %v, want 1", got)
	}
}
