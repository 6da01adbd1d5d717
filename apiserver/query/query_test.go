package query

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func batch(name string, age time.Duration, prio int32, phase quantumv1alpha1.BatchStatus, jobs int, open bool) *restdoc.Batch {
	b := &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(age))},
		Spec:       quantumv1alpha1.BatchSpec{DeviceType: quantumv1alpha1.DeviceTypeEmuFree, Priority: prio, Open: open, UserID: "u-" + name, Tags: []string{"t-" + name}},
		Status:     quantumv1alpha1.BatchStatusFields{Phase: phase},
	}
	if phase.Terminal() {
		// It started a minute after its creation and ran for a minute.
		start, end := metav1.NewTime(t0.Add(age+time.Minute)), metav1.NewTime(t0.Add(age+2*time.Minute))
		b.Status.StartTime, b.Status.EndTime = &start, &end
	}
	js := make([]*quantumv1alpha1.Job, jobs)
	for i := range js {
		js[i] = &quantumv1alpha1.Job{}
	}
	doc := restdoc.BatchFrom(b, "p", js, "")
	return &doc
}

func names(items []*restdoc.Batch) []string {
	var out []string
	for _, b := range items {
		out = append(out, b.ID)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestSortBatchesBreaksTiesByID(t *testing.T) {
	items := []*restdoc.Batch{batch("b", 0, 1, "", 1, false), batch("a", 0, 2, "", 1, false), batch("c", time.Second, 0, "", 1, false)}
	if err := SortBatches(items, "created_at", true); err != nil {
		t.Fatal(err)
	}
	if got := names(items); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Errorf("DESC: %v", got)
	}
	if err := SortBatches(items, "created_at", false); err != nil {
		t.Fatal(err)
	}
	if got := names(items); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("ASC: %v", got)
	}
	if err := SortBatches(items, "priority", true); err != nil {
		t.Fatal(err)
	}
	if got := names(items); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("priority DESC: %v", got)
	}
	if err := SortBatches(items, "colour", true); err == nil {
		t.Error("an unknown order_by is accepted")
	}
}

func TestBatchFilter(t *testing.T) {
	a := batch("a1", 0, 0, quantumv1alpha1.BatchDone, 3, false)
	b := batch("b1", time.Hour, 0, "", 1, true)
	cases := []struct {
		f    BatchFilter
		want []string
	}{
		{BatchFilter{}, []string{"a1", "b1"}},
		{BatchFilter{Statuses: []string{"PENDING"}}, []string{"b1"}},
		{BatchFilter{IDPrefix: "a"}, []string{"a1"}},
		{BatchFilter{Open: ptr(true)}, []string{"b1"}},
		{BatchFilter{Complete: ptr(true)}, []string{"a1"}},
		{BatchFilter{MinJobs: ptr(2)}, []string{"a1"}},
		{BatchFilter{MaxJobs: ptr(2)}, []string{"b1"}},
		{BatchFilter{UserIDs: []string{"u-b1"}}, []string{"b1"}},
		{BatchFilter{Tag: "t-a1"}, []string{"a1"}},
		// Dates filter on execution: b1 never started, so it matches no date.
		{BatchFilter{Start: ptr(t0.Add(time.Minute))}, []string{"a1"}},
		{BatchFilter{Start: ptr(t0.Add(61 * time.Second))}, nil},
		{BatchFilter{End: ptr(t0.Add(2 * time.Minute))}, []string{"a1"}},
		{BatchFilter{End: ptr(t0.Add(time.Minute))}, nil},
		{BatchFilter{QueuePriorities: []string{"HIGH"}}, nil},
		{BatchFilter{ProjectIDs: []string{"p"}, DeviceTypes: []string{"EMU_FREE"}}, []string{"a1", "b1"}},
	}
	for i, c := range cases {
		var got []string
		for _, x := range []*restdoc.Batch{a, b} {
			if c.f.Match(x) {
				got = append(got, x.ID)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("case %d: %v, want %v", i, got, c.want)
		}
	}
}

func TestJobFilterAndSort(t *testing.T) {
	mk := func(name string, order, runs int32, errs []string) *restdoc.Job {
		j := restdoc.JobFrom(&quantumv1alpha1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0)},
			Spec:       quantumv1alpha1.JobSpec{BatchName: "b", CreationOrder: order, Runs: runs, UserID: "u"},
			Status:     quantumv1alpha1.JobStatusFields{Errors: errs},
		}, "p")
		return &j
	}
	jobs := []*restdoc.Job{mk("z", 1, 10, nil), mk("y", 2, 20, []string{"boom"}), mk("x", 3, 30, nil)}
	if err := SortJobs(jobs, "created_at", false); err != nil {
		t.Fatal(err)
	}
	if jobs[0].ID != "z" || jobs[2].ID != "x" {
		t.Errorf("equal creation times must fall back to creation order: %s %s %s", jobs[0].ID, jobs[1].ID, jobs[2].ID)
	}
	f := JobFilter{MinRuns: ptr(15), Errors: ptr(false), Origins: []string{"CLIENT"}, UserIDs: []string{"u"}}
	var got []string
	for _, j := range jobs {
		if f.Match(j) {
			got = append(got, j.ID)
		}
	}
	if !slices.Equal(got, []string{"x"}) {
		t.Errorf("filter: %v", got)
	}
	if (&JobFilter{Origins: []string{"AZURE"}}).Match(jobs[0]) {
		t.Error("an AZURE origin matched")
	}
}

func TestWindowAndParsing(t *testing.T) {
	items := []*int{ptr(1), ptr(2), ptr(3)}
	if got := Window(items, 1, 5); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("window: %v", got)
	}
	if got := Window(items, 5, 5); len(got) != 0 {
		t.Errorf("past the end: %v", got)
	}
	for _, s := range []string{"2026-01-02T03:04:05Z", "2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05", "2026-01-02T03:04:05.123456", "2026-01-02"} {
		if _, err := ParseTime(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("yesterday parsed")
	}
	if d, err := Direction(""); err != nil || !d {
		t.Error("default direction is DESC")
	}
	if _, err := Direction("UP"); err == nil {
		t.Error("UP accepted")
	}
}
