package handlers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// The spawn answer and the learner record are one view of the Learner.
func TestNotebookViewAndRequestAfterCull(t *testing.T) {
	culled := metav1.NewTime(time.Date(2026, 12, 1, 15, 0, 5, 0, time.UTC))
	l := &quantumv1alpha1.Learner{ObjectMeta: metav1.ObjectMeta{Generation: 3},
		Spec: quantumv1alpha1.LearnerSpec{Notebooks: []quantumv1alpha1.LearnerNotebook{{Name: "a", RequestTime: culled}, {Name: "new"}}},
		Status: quantumv1alpha1.LearnerStatus{ObservedGeneration: 3, Notebooks: []quantumv1alpha1.NotebookStatus{
			{Name: "a", State: quantumv1alpha1.NotebookCulled, Message: "idle", CullTime: &culled}}}}

	// Asked again within the second of the cull: recorded after it.
	if got := requestAfterCull(l, "a", metav1.NewTime(culled.Add(300*time.Millisecond))); !got.After(culled.Time) || got.Sub(culled.Time) != time.Second {
		t.Errorf("request in the cull's second: %v", got)
	}
	later := metav1.NewTime(culled.Add(time.Minute))
	if got := requestAfterCull(l, "a", later); !got.Equal(&later) {
		t.Errorf("later request moved to %v", got)
	}

	// Seen by the controller: the status as it is.
	if v := notebookView(l, "a"); v.State != "CULLED" || v.Message != "idle" || v.URL != nil {
		t.Errorf("observed cull: %+v", v)
	}
	// Asked again, not yet seen: STARTING, waiting for the controller.
	l.Generation, l.Spec.Notebooks[0].RequestTime = 4, later
	if v := notebookView(l, "a"); v.State != "STARTING" || v.Message != Waiting {
		t.Errorf("asked again: %+v", v)
	}
	if v := notebookView(l, "new"); v.State != "STARTING" || v.Message != Waiting {
		t.Errorf("new: %+v", v)
	}
	// A running server is what it is, seen or not.
	l.Status.Notebooks[0] = quantumv1alpha1.NotebookStatus{Name: "a", State: quantumv1alpha1.NotebookRunning, URL: "http://x/"}
	if v := notebookView(l, "a"); v.State != "RUNNING" || v.URL == nil || *v.URL != "http://x/" {
		t.Errorf("running: %+v", v)
	}
}
