package batchrunner

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// TestJobWriter runs the writer of a job's status against a real API
// server: a job done within one interval takes one write from PENDING to
// DONE; a longer one is marked RUNNING with its attempt and progress first;
// a job the manager canceled or finished meanwhile is left alone.
func TestJobWriter(t *testing.T) {
	c, ctx := k8s, context.Background()
	namespace(t, "jobs")
	newJob := func(name string) *quantumv1alpha1.Job {
		t.Helper()
		j := &quantumv1alpha1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: name},
			Spec: quantumv1alpha1.JobSpec{BatchName: "b", Runs: 10, CreationOrder: 1}}
		if err := c.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	read := func(j *quantumv1alpha1.Job) *quantumv1alpha1.Job {
		t.Helper()
		cur := &quantumv1alpha1.Job{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(j), cur); err != nil {
			t.Fatal(err)
		}
		return cur
	}
	done := func(s *quantumv1alpha1.JobStatusFields) {
		s.Phase, s.Progress, s.Counter = quantumv1alpha1.JobDone, 100, map[string]int64{"01": 10}
	}
	waitPhase := func(j *quantumv1alpha1.Job, phase quantumv1alpha1.JobStatus) *quantumv1alpha1.Job {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if cur := read(j); cur.Status.Phase == phase {
				return cur
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s never %s", j.Name, phase)
			}
		}
	}

	t.Run("a job done within one interval goes from PENDING to DONE in one write", func(t *testing.T) {
		j := newJob("quick")
		events, err := c.Watch(ctx, &quantumv1alpha1.JobList{}, client.InNamespace("jobs"),
			client.MatchingFields{"metadata.name": j.Name})
		if err != nil {
			t.Fatal(err)
		}
		defer events.Stop()
		w := newJobWriter(c, read(j), time.Hour, func() { t.Error("the job did not change") })
		runCtx, stopRun := context.WithCancel(ctx)
		go w.run(runCtx)
		w.set(50)
		w.stop()
		stopRun()
		if err := w.finish(ctx, done); err != nil {
			t.Fatal(err)
		}
		got := read(j)
		if got.Status.Phase != quantumv1alpha1.JobDone || got.Status.Attempts != 1 || got.Status.StartTime == nil ||
			got.Status.EndTime == nil || got.Status.Counter["01"] != 10 {
			t.Errorf("status %+v", got.Status)
		}
		var phases []quantumv1alpha1.JobStatus
		for timeout := time.After(500 * time.Millisecond); ; {
			select {
			case ev := <-events.ResultChan():
				if ev.Type == watch.Modified {
					phases = append(phases, ev.Object.(*quantumv1alpha1.Job).Status.Phase)
				}
				continue
			case <-timeout:
			}
			break
		}
		if len(phases) != 1 || phases[0] != quantumv1alpha1.JobDone {
			t.Errorf("status writes seen: %v, want one: DONE", phases)
		}
	})

	t.Run("a longer job is marked RUNNING with its attempt and progress, then finished", func(t *testing.T) {
		j := newJob("long")
		prev := read(j)
		prev.Status.Attempts = 1 // a retry: this is attempt 2
		if err := c.Status().Update(ctx, prev); err != nil {
			t.Fatal(err)
		}
		w := newJobWriter(c, read(j), 50*time.Millisecond, func() { t.Error("the job did not change") })
		w.set(30)
		runCtx, stopRun := context.WithCancel(ctx)
		defer stopRun()
		go w.run(runCtx)
		running := waitPhase(j, quantumv1alpha1.JobRunning)
		if running.Status.Attempts != 2 || running.Status.Progress != 30 || running.Status.StartTime == nil {
			t.Errorf("RUNNING status %+v", running.Status)
		}
		w.set(70)
		for deadline := time.Now().Add(10 * time.Second); read(j).Status.Progress != 70; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("progress 70 never written")
			}
		}
		w.stop()
		if err := w.finish(ctx, done); err != nil {
			t.Fatal(err)
		}
		if got := read(j); got.Status.Phase != quantumv1alpha1.JobDone || got.Status.Attempts != 2 ||
			!got.Status.StartTime.Equal(running.Status.StartTime) {
			t.Errorf("DONE status %+v", got.Status)
		}
	})

	t.Run("a job the manager canceled before it was marked is stopped and left alone", func(t *testing.T) {
		j := newJob("canceled")
		var changed atomic.Bool
		w := newJobWriter(c, read(j), 50*time.Millisecond, func() { changed.Store(true) })
		cur := read(j)
		cur.Spec.Canceled = true
		if err := c.Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
		cur = read(j)
		cur.Status.Phase = quantumv1alpha1.JobCanceled
		if err := c.Status().Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
		runCtx, stopRun := context.WithCancel(ctx)
		defer stopRun()
		go w.run(runCtx)
		for deadline := time.Now().Add(10 * time.Second); !changed.Load(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the writer did not notice the job changed")
			}
		}
		w.stop()
		if err := w.finish(ctx, done); err != nil {
			t.Fatal(err)
		}
		if got := read(j); got.Status.Phase != quantumv1alpha1.JobCanceled || got.Status.Attempts != 0 {
			t.Errorf("the runner wrote over the manager: %+v", got.Status)
		}
	})

	t.Run("a RUNNING job the manager finished is not written again", func(t *testing.T) {
		j := newJob("finished")
		w := newJobWriter(c, read(j), 20*time.Millisecond, func() {})
		runCtx, stopRun := context.WithCancel(ctx)
		defer stopRun()
		go w.run(runCtx)
		cur := waitPhase(j, quantumv1alpha1.JobRunning)
		w.stop()
		cur.Status.Phase = quantumv1alpha1.JobError
		cur.Status.Errors = []string{"time limit"}
		if err := c.Status().Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
		if err := w.finish(ctx, done); err != nil {
			t.Fatal(err)
		}
		if got := read(j); got.Status.Phase != quantumv1alpha1.JobError {
			t.Errorf("the runner wrote over the manager: %+v", got.Status)
		}
	})

	// The runner's progress writes are checked against the resourceVersion:
	// one that races the job's end (a worker route, the manager) does not
	// land on the ended job, which stays as it was written.
	t.Run("a DONE job stays DONE, with its own progress, under a concurrent progress write", func(t *testing.T) {
		j := newJob("progress-after-done")
		w := newJobWriter(c, read(j), 20*time.Millisecond, func() {})
		runCtx, stopRun := context.WithCancel(ctx)
		defer stopRun()
		go w.run(runCtx)
		cur := waitPhase(j, quantumv1alpha1.JobRunning)
		// Another writer ends the job while the runner still runs it.
		done(&cur.Status)
		cur.Status.Progress = 100
		if err := c.Status().Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
		ended := read(j).ResourceVersion
		w.set(60) // the engine reports progress: the next ticks try to write it
		time.Sleep(300 * time.Millisecond)
		w.stop()
		got := read(j)
		if got.Status.Phase != quantumv1alpha1.JobDone || got.Status.Progress != 100 || got.ResourceVersion != ended {
			t.Errorf("after a progress write: %s, progress %d, resourceVersion %s (ended at %s); want it untouched",
				got.Status.Phase, got.Status.Progress, got.ResourceVersion, ended)
		}
		if err := w.finish(ctx, done); err != nil {
			t.Fatal(err)
		}
		if got := read(j); got.ResourceVersion != ended {
			t.Errorf("the runner's finish wrote over the ended job: %+v", got.Status)
		}
	})

	t.Run("a job retried in another attempt gets no progress from the earlier one", func(t *testing.T) {
		j := newJob("progress-other-attempt")
		w := newJobWriter(c, read(j), 20*time.Millisecond, func() {})
		runCtx, stopRun := context.WithCancel(ctx)
		defer stopRun()
		go w.run(runCtx)
		cur := waitPhase(j, quantumv1alpha1.JobRunning)
		// The manager gave the job to another runner: attempt 2 runs it.
		cur.Status.Attempts, cur.Status.Progress = 2, 5
		if err := c.Status().Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
		taken := read(j).ResourceVersion
		w.set(80)
		time.Sleep(300 * time.Millisecond)
		w.stop()
		if got := read(j); got.Status.Progress != 5 || got.ResourceVersion != taken {
			t.Errorf("attempt 1 wrote over attempt 2: progress %d, resourceVersion %s (was %s)", got.Status.Progress, got.ResourceVersion, taken)
		}
	})

	// The runner's end of the job and another writer's cancel race: each
	// writes only over the RUNNING version it read (a stale read conflicts,
	// is read again, and sees the job ended), so the first to land stays.
	// In particular a job that completed stays DONE.
	t.Run("a cancel racing completion leaves the completed job DONE", func(t *testing.T) {
		for round := range 10 {
			j := newJob(fmt.Sprintf("race-%d", round))
			runner := newJobWriter(c, read(j), 20*time.Millisecond, func() {})
			runCtx, stopRun := context.WithCancel(ctx)
			go runner.run(runCtx)
			waitPhase(j, quantumv1alpha1.JobRunning)
			runner.stop()
			stopRun()
			// The canceler is the same attempt's writer as the manager or a
			// worker route sees it: RUNNING, at the version read now.
			canceler := newJobWriter(c, read(j), time.Hour, func() {})
			canceler.attempt, canceler.running = runner.attempt, true
			events, err := c.Watch(ctx, &quantumv1alpha1.JobList{}, client.InNamespace("jobs"),
				client.MatchingFields{"metadata.name": j.Name})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Add(2)
			go func() { defer wg.Done(); errs[0] = runner.finish(ctx, done) }()
			go func() {
				defer wg.Done()
				errs[1] = canceler.finish(ctx, func(s *quantumv1alpha1.JobStatusFields) { s.Phase = quantumv1alpha1.JobCanceled })
			}()
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatal(errs)
			}
			var writes []quantumv1alpha1.JobStatus
			for timeout := time.After(300 * time.Millisecond); ; {
				select {
				case ev := <-events.ResultChan():
					if ev.Type == watch.Modified {
						writes = append(writes, ev.Object.(*quantumv1alpha1.Job).Status.Phase)
					}
					continue
				case <-timeout:
				}
				break
			}
			events.Stop()
			got := read(j)
			if len(writes) != 1 || writes[0] != got.Status.Phase {
				t.Fatalf("round %d: status writes %v, final %s; want exactly one terminal write", round, writes, got.Status.Phase)
			}
			if got.Status.Phase == quantumv1alpha1.JobDone && (got.Status.Counter["01"] != 10 || got.Status.Progress != 100) {
				t.Fatalf("round %d: DONE without its results: %+v", round, got.Status)
			}
		}
	})
}
