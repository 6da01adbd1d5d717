package jobbudget

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestAProjectsJobsArePaced(t *testing.T) {
	b := New(Limits{PerSecond: 5, Burst: 20})
	if w := b.Book(t0, "a", "a/1", 20); w != 0 {
		t.Fatalf("a new project's burst waits %s", w)
	}
	// Empty: five jobs wait a second, and are booked for then.
	if w := b.Book(t0, "a", "a/2", 5); w != time.Second {
		t.Fatalf("five jobs wait %s, want 1s", w)
	}
	if w := b.Book(at(400*time.Millisecond), "a", "a/2", 5); w != 600*time.Millisecond {
		t.Fatalf("asked again, the booking has %s left, want 600ms", w)
	}
	if w := b.Book(at(time.Second), "a", "a/2", 5); w != 0 {
		t.Fatalf("at its time the booking waits %s", w)
	}
	// Used: the bucket is empty at that time, one more job waits 200 ms.
	if w := b.Book(at(time.Second), "a", "a/3", 1); w != 200*time.Millisecond {
		t.Fatalf("after the booking, one job waits %s, want 200ms", w)
	}
	// Another project has a budget of its own.
	if w := b.Book(t0, "b", "b/1", 20); w != 0 {
		t.Fatalf("another project waits %s for a's jobs", w)
	}
}

func TestBookingsAreServedInTheirOrder(t *testing.T) {
	b := New(Limits{PerSecond: 5, Burst: 20})
	b.Book(t0, "a", "a/full", 20)
	if w := b.Book(t0, "a", "a/large", 10); w != 2*time.Second {
		t.Fatalf("ten jobs wait %s, want 2s", w)
	}
	// A later batch of one job does not pass the ten that wait.
	if w := b.Book(at(time.Second), "a", "a/small", 1); w != 1200*time.Millisecond {
		t.Fatalf("one job booked after the ten waits %s, want 1.2s (until 2.2s)", w)
	}
}

func TestABatchOverTheBurstNeedsAFullBucketAndLeavesDebt(t *testing.T) {
	b := New(Limits{PerSecond: 5, Burst: 20})
	b.Book(t0, "a", "a/1", 1)
	// 100 jobs need the 20 of a full bucket: one is missing.
	if w := b.Book(t0, "a", "a/100", 100); w != 200*time.Millisecond {
		t.Fatalf("100 jobs on a bucket of 19 wait %s, want 200ms", w)
	}
	if w := b.Book(at(200*time.Millisecond), "a", "a/100", 100); w != 0 {
		t.Fatalf("the 100 at their time wait %s", w)
	}
	// 80 in debt then: the next job waits for 81.
	if w := b.Book(at(200*time.Millisecond), "a", "a/2", 1); w != 81*200*time.Millisecond {
		t.Fatalf("after the 100, one job waits %s, want 16.2s", w)
	}
}

func TestABookingPaysForTheJobsMissingWhenItIsUsed(t *testing.T) {
	b := New(Limits{PerSecond: 5, Burst: 20})
	b.Book(t0, "a", "a/full", 20)
	b.Book(t0, "a", "a/1", 5) // at 1 s
	// Five jobs were added while it waited: it creates ten and pays the five.
	if w := b.Book(at(time.Second), "a", "a/1", 10); w != 0 {
		t.Fatal(w)
	}
	if w := b.Book(at(time.Second), "a", "a/2", 1); w != 1200*time.Millisecond {
		t.Fatalf("after ten jobs, one waits %s, want 1.2s", w)
	}
}

func TestReturnedAndCanceledJobsGoBack(t *testing.T) {
	b := New(Limits{PerSecond: 5, Burst: 20})
	b.Book(t0, "a", "a/1", 20)
	b.Return(t0, "a", 8) // eight were not created
	if w := b.Book(t0, "a", "a/2", 8); w != 0 {
		t.Fatalf("the eight returned jobs wait %s", w)
	}
	if w := b.Book(t0, "a", "a/3", 10); w != 2*time.Second {
		t.Fatalf("ten jobs on an empty bucket wait %s, want 2s", w)
	}
	// a/3 is deleted while it waits: its ten go back.
	b.Cancel(t0, "a/3")
	if w := b.Book(t0, "a", "a/4", 1); w != 200*time.Millisecond {
		t.Fatalf("after the cancel, one job waits %s, want 200ms", w)
	}
	// Nothing goes back twice, and never beyond the burst.
	b.Cancel(t0, "a/3")
	b.Return(at(time.Hour), "a", 50)
	b.Book(at(time.Hour), "a", "a/5", 20)
	if w := b.Book(at(time.Hour), "a", "a/6", 1); w != 200*time.Millisecond {
		t.Fatalf("the return filled the bucket beyond its burst: one job waits %s", w)
	}
}

func TestOffLetsEveryBatchPass(t *testing.T) {
	for _, l := range []Limits{{}, {PerSecond: -1, Burst: 20}} {
		b := New(l)
		for range 10 {
			if w := b.Book(t0, "a", "a/1", 1000); w != 0 {
				t.Fatalf("%+v: waits %s", l, w)
			}
		}
		b.Return(t0, "a", 5)
		if len(b.projects) != 0 || len(b.bookings) != 0 {
			t.Fatalf("%+v: keeps buckets or bookings", l)
		}
	}
}

func TestFullBucketsAndStaleBookingsAreForgotten(t *testing.T) {
	b := New(Limits{PerSecond: 5, Burst: 20})
	b.Book(t0, "a", "a/1", 20)
	b.Book(t0, "a", "a/2", 400) // booked for 4 s, then 380 in debt
	b.Book(t0, "b", "b/1", 1)
	b.Book(t0, "c", "c/1", 20)
	b.Book(t0, "c", "c/2", 1) // booked for 200 ms; its batch never comes back
	// Within the minute nothing is swept.
	b.Book(at(30*time.Second), "d", "d/1", 1)
	if len(b.projects) != 4 || len(b.bookings) != 2 {
		t.Fatalf("swept within the minute: %d buckets, %d bookings", len(b.projects), len(b.bookings))
	}
	// After it: b's and c's buckets are full again, c's booking is stale;
	// a's bucket is in debt and kept, with its booking not yet a minute late.
	b.Book(at(61*time.Second), "d", "d/2", 1)
	if _, ok := b.projects["b"]; ok {
		t.Fatal("b's full bucket is kept")
	}
	if _, ok := b.bookings["c/2"]; ok {
		t.Fatal("c's stale booking is kept")
	}
	if _, ok := b.projects["c"]; ok {
		t.Fatal("c's full bucket is kept")
	}
	if _, ok := b.projects["a"]; !ok {
		t.Fatal("a's bucket in debt was forgotten")
	}
	// A forgotten bucket comes back full.
	if w := b.Book(at(61*time.Second), "b", "b/2", 20); w != 0 {
		t.Fatalf("b's forgotten bucket waits %s", w)
	}
}

func TestLimitsSayWhatTheyAre(t *testing.T) {
	if err := (Limits{PerSecond: 5}).Validate(); err == nil || !strings.Contains(err.Error(), "project-jobs-burst") {
		t.Fatalf("a rate without a burst: %v", err)
	}
	if err := (Limits{PerSecond: 0, Burst: 0}).Validate(); err != nil {
		t.Fatalf("off: %v", err)
	}
	if got := (Limits{PerSecond: 2.5, Burst: 20}).String(); got != "at most 2.5 jobs per second (20 at once, or one batch of more when none were created lately)" {
		t.Fatal(got)
	}
}
