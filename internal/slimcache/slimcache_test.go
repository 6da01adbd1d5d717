package slimcache

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

func TestTrimDropsPayloadsAndSaysWhich(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	b := &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{Name: "b", ManagedFields: managed, Annotations: map[string]string{"keep": "me"}},
		Spec: quantumv1alpha1.BatchSpec{
			SequenceBuilder: strings.Repeat("s", 1<<20), BackendConfiguration: strings.Repeat("c", 5000), Tags: []string{"t"},
			Jobs: []quantumv1alpha1.InlineJob{{Runs: 1, Sequence: "own"}, {Runs: 2}},
		},
	}
	if _, err := Trim(b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.SequenceBuilder != "" || b.Spec.BackendConfiguration != "" || b.Spec.Jobs[0].Sequence != "" || b.ManagedFields != nil {
		t.Errorf("batch not trimmed: %+v", b.Spec)
	}
	if len(b.Spec.Jobs) != 2 || b.Spec.Jobs[1].Runs != 2 || b.Spec.Tags[0] != "t" || b.Annotations["keep"] != "me" {
		t.Errorf("trim dropped more than payloads: %+v %v", b.Spec, b.Annotations)
	}
	if got := b.Annotations[Annotation]; got != "sequenceBuilder,jobs[].sequence,backendConfiguration" || !Trimmed(b) {
		t.Errorf("annotation %q", got)
	}

	small := &quantumv1alpha1.Batch{Spec: quantumv1alpha1.BatchSpec{BackendConfiguration: `{"a":1}`}}
	_, _ = Trim(small)
	if Trimmed(small) || small.Spec.BackendConfiguration != `{"a":1}` {
		t.Errorf("a batch without payloads is marked trimmed or changed: %+v", small)
	}

	j := &quantumv1alpha1.Job{Spec: quantumv1alpha1.JobSpec{Sequence: "x", Runs: 3}, Status: quantumv1alpha1.JobStatusFields{Raw: []string{"01"}, Counter: map[string]int64{"01": 1}}}
	_, _ = Trim(j)
	if j.Spec.Sequence != "" || j.Status.Raw != nil || j.Status.Counter["01"] != 1 || j.Spec.Runs != 3 || j.Annotations[Annotation] != "sequence,status.raw" {
		t.Errorf("job: %+v %v", j, j.Annotations)
	}

	large := `{"sequence_builder":"` + strings.Repeat("x", smallBytes) + `"}`
	w := &quantumv1alpha1.Workload{Spec: quantumv1alpha1.WorkloadSpec{Config: &apiextensionsv1.JSON{Raw: []byte(large)}}}
	_, _ = Trim(w)
	if w.Spec.Config != nil || w.Annotations[Annotation] != "config" {
		t.Errorf("workload with a large config: %+v", w)
	}
	smallWl := &quantumv1alpha1.Workload{Spec: quantumv1alpha1.WorkloadSpec{Config: &apiextensionsv1.JSON{Raw: []byte(`{"runs":1}`)}}}
	_, _ = Trim(smallWl)
	if smallWl.Spec.Config == nil || string(smallWl.Spec.Config.Raw) != `{"runs":1}` || Trimmed(smallWl) {
		t.Errorf("workload with a small config: %+v", smallWl)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ManagedFields: managed}}
	_, _ = Trim(pod)
	if pod.ManagedFields != nil || Trimmed(pod) {
		t.Errorf("pod: %+v", pod.ObjectMeta)
	}
	if out, err := Trim("not an object"); err != nil || out != "not an object" {
		t.Errorf("a tombstone or other value: %v %v", out, err)
	}
}
