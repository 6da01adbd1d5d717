package retention

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

// The suite runs the reconciler against a real API server with
// kube-controller-manager's garbage collector, which follows the owner
// references from a deleted batch to its jobs and their result ConfigMaps.
// The reconciler's clock is a fake one: no test sleeps through a TTL.

const ttl = 30 * 24 * time.Hour

var (
	ctx = context.Background()
	k8s client.WithWatch
	ns  string
	// t0 is the fake clock's start: the real time when the suite began, so
	// that objects stamped by the API server line up with it.
	t0  = time.Now().Truncate(time.Second)
	clk = clocktesting.NewFakeClock(t0)
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	os.Exit(func() int {
		env, cfg, c, err := testenv.Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = env.Stop() }()
		k8s = c
		stopKCM, err := testenv.StartControllerManager(env, io.Discard, "garbage-collector-controller")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stopKCM()
		pns := testenv.ProjectNamespace("p-" + rand.String(8))
		if err := k8s.Create(ctx, pns); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ns = pns.Name
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: controlplane.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		r := &Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("tweezer-retention"), TTL: ttl, Clock: clk}
		if err := r.SetupWithManager(mgr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { _ = mgr.Start(mctx) }()
		return m.Run()
	}())
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) { return cond() }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// stored is a batch as the platform leaves it: its status, one Job owned by
// the batch and, for a finished job, a result ConfigMap owned by the job.
type stored struct {
	batch *v1.Batch
	job   *v1.Job
	cm    *corev1.ConfigMap
}

func store(t *testing.T, phase v1.BatchStatus, ended time.Time) stored {
	t.Helper()
	b := &v1.Batch{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b-" + rand.String(8)},
		Spec:       v1.BatchSpec{SequenceBuilder: "{}", DeviceType: v1.DeviceTypeEmuFree, Jobs: []v1.InlineJob{{Runs: 10}}},
	}
	if err := k8s.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	owner := func(o client.Object, kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: v1.GroupVersion.String(), Kind: kind, Name: o.GetName(), UID: o.GetUID(),
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	}
	j := &v1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: b.Name + "-1", OwnerReferences: owner(b, "Batch"), Labels: map[string]string{v1.BatchLabel: b.Name}},
		Spec:       v1.JobSpec{BatchName: b.Name, Runs: 10, CreationOrder: 1},
	}
	if err := k8s.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	s := stored{batch: b, job: j}
	if phase.Terminal() {
		s.cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: j.Name + "-result", OwnerReferences: owner(j, "Job")},
			Data:       map[string]string{v1.ResultKey: `{"counter":{"0":10}}`},
		}
		if err := k8s.Create(ctx, s.cm); err != nil {
			t.Fatal(err)
		}
		j.Status = v1.JobStatusFields{Phase: v1.JobDone, ResultRef: s.cm.Name, EndTime: &metav1.Time{Time: ended}}
		if err := k8s.Status().Update(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	b.Status = v1.BatchStatusFields{Phase: phase, StartTime: &metav1.Time{Time: ended.Add(-time.Minute)}}
	if phase.Terminal() {
		b.Status.EndTime = &metav1.Time{Time: ended}
	}
	if err := k8s.Status().Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	return s
}

func gone(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		eventually(t, fmt.Sprintf("%T %s to be deleted", o, o.GetName()), time.Minute, func() (bool, error) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(o), o)
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
	}
}

func exists(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatalf("%T %s: %v, want it kept", o, o.GetName(), err)
		}
		if o.GetDeletionTimestamp() != nil {
			t.Fatalf("%T %s is being deleted, want it kept", o, o.GetName())
		}
	}
}

func TestAnOldFinishedBatchIsDeletedWithItsJobsAndResultsAndARunningOneIsKept(t *testing.T) {
	before := testutil.ToFloat64(Expired.WithLabelValues("DONE"))
	running := store(t, v1.BatchRunning, clk.Now().Add(-90*24*time.Hour)) // started long ago, still running
	recent := store(t, v1.BatchDone, clk.Now().Add(-29*24*time.Hour))
	old := store(t, v1.BatchDone, clk.Now().Add(-31*24*time.Hour))

	gone(t, old.batch, old.job, old.cm)
	if got := testutil.ToFloat64(Expired.WithLabelValues("DONE")) - before; got != 1 {
		t.Fatalf("tweezer_batches_expired_total{status=DONE} grew by %v, want 1", got)
	}
	eventually(t, "an Expired event", 10*time.Second, func() (bool, error) {
		var list eventsv1.EventList
		if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == old.batch.Name && e.Reason == ReasonExpired && strings.Contains(e.Note, "past the retention of 720h0m0s") {
				return true, nil
			}
		}
		return false, nil
	})
	exists(t, running.batch, running.job, recent.batch, recent.job, recent.cm)

	// Two days later (on the reconciler's clock) the recent one is past the
	// retention too; any change of it makes the reconciler look again.
	clk.Step(2 * 24 * time.Hour)
	for _, b := range []*v1.Batch{recent.batch, running.batch} {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil {
			t.Fatal(err)
		}
		b.Labels = map[string]string{"touched": "yes"}
		if err := k8s.Update(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	gone(t, recent.batch, recent.job, recent.cm)
	exists(t, running.batch, running.job)
}

func TestDue(t *testing.T) {
	end := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	b := &v1.Batch{Status: v1.BatchStatusFields{Phase: v1.BatchCanceled, EndTime: &metav1.Time{Time: end}}}
	if due, ok := Due(b, time.Hour); !ok || !due.Equal(end.Add(time.Hour)) {
		t.Fatalf("Due = %v, %v; want an hour after the end", due, ok)
	}
	if _, ok := Due(b, 0); ok {
		t.Fatal("a TTL of 0 disables the retention")
	}
	// Without an end time, the Complete condition's time counts.
	b.Status.EndTime = nil
	b.Status.Conditions = []metav1.Condition{{Type: v1.ConditionComplete, Status: metav1.ConditionTrue, LastTransitionTime: metav1.Time{Time: end}}}
	if due, ok := Due(b, time.Hour); !ok || !due.Equal(end.Add(time.Hour)) {
		t.Fatalf("Due from the Complete condition = %v, %v", due, ok)
	}
	b.Status.Conditions = nil
	if _, ok := Due(b, time.Hour); ok {
		t.Fatal("a terminal batch with no time at all is kept")
	}
	for _, p := range []v1.BatchStatus{v1.BatchPending, v1.BatchRunning, v1.BatchPaused} {
		b := &v1.Batch{Status: v1.BatchStatusFields{Phase: p, EndTime: &metav1.Time{Time: end}}}
		if _, ok := Due(b, time.Hour); ok {
			t.Fatalf("a %s batch is never due", p)
		}
	}
	for _, p := range []v1.BatchStatus{v1.BatchDone, v1.BatchError, v1.BatchTimedOut} {
		b := &v1.Batch{Status: v1.BatchStatusFields{Phase: p, EndTime: &metav1.Time{Time: end}}}
		if _, ok := Due(b, time.Hour); !ok {
			t.Fatalf("a %s batch is due", p)
		}
	}
}
