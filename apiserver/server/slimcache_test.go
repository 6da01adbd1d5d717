package server_test

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/slimcache"
)

// The facade's informers hold no sequences; every route that shows one
// reads it from the API server.
func TestCacheHoldsNoSequences(t *testing.T) {
	const batchSeq, jobSeq = `{"version":"1","name":"batch-seq"}`, `{"version":"1","name":"job-seq"}`
	body := newBatch(projA, 2, map[string]any{"sequence_builder": batchSeq})
	body["jobs"].([]map[string]any)[1]["sequence"] = jobSeq
	created := createBatch(t, tokens["alice"], body)
	id := created["id"].(string)

	b := &quantumv1alpha1.Batch{}
	if err := facadeCache.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id}, b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.SequenceBuilder != "" || len(b.Spec.Jobs) != 2 || b.Spec.Jobs[1].Sequence != "" || !slimcache.Trimmed(b) {
		t.Fatalf("the facade's cache holds the batch's sequences: %q, jobs %+v", b.Spec.SequenceBuilder, b.Spec.Jobs)
	}
	var jobs quantumv1alpha1.JobList
	if err := facadeCache.List(context.Background(), &jobs, client.InNamespace(projA), client.MatchingLabels{quantumv1alpha1.BatchLabel: id}); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 2 {
		t.Fatalf("%d jobs in the cache, want 2", len(jobs.Items))
	}
	for _, j := range jobs.Items {
		if j.Spec.Sequence != "" {
			t.Errorf("the facade's cache holds job %s's sequence", j.Name)
		}
	}

	checkJob := func(route string, j map[string]any) {
		t.Helper()
		want := any(nil)
		if j["creation_order"].(float64) == 2 {
			want = jobSeq
		}
		if j["sequence"] != want {
			t.Errorf("%s: job %v has sequence %v, want %v", route, j["creation_order"], j["sequence"], want)
		}
	}
	checkJobs := func(route string, list []any) {
		t.Helper()
		if len(list) != 2 {
			t.Fatalf("%s: %d jobs, want 2", route, len(list))
		}
		for _, it := range list {
			checkJob(route, it.(map[string]any))
		}
	}
	for _, route := range []string{"/api/v1/batches/" + id, "/api/v2/batches/" + id} {
		d := expect(t, call(t, "GET", route, tokens["alice"], nil, false), 200).data()
		if d["sequence_builder"] != batchSeq {
			t.Errorf("%s: sequence_builder %v", route, d["sequence_builder"])
		}
		checkJobs(route, d["jobs"].([]any))
	}
	page := expect(t, call(t, "GET", "/api/v1/batches?project_id="+projA+"&id="+id, tokens["alice"], nil, false), 200).list()
	if len(page) != 1 || page[0].(map[string]any)["sequence_builder"] != batchSeq {
		t.Errorf("list: %v", page)
	}
	for _, route := range []string{"/api/v1/jobs?batch_id=" + id, "/api/v2/jobs?batch_id=" + id} {
		checkJobs(route, expect(t, call(t, "GET", route, tokens["alice"], nil, false), 200).list())
	}
	for _, j := range jobs.Items {
		for _, route := range []string{"/api/v1/jobs/" + j.Name, "/api/v2/jobs/" + j.Name} {
			checkJob(route, expect(t, call(t, "GET", route, tokens["alice"], nil, false), 200).data())
		}
	}

	// A rebatch copies the sequences; jobs added to an open batch without
	// their own run the batch's.
	re := expect(t, call(t, "POST", "/api/v1/batches/"+id+"/rebatch", tokens["alice"], nil, false), 200).data()
	if re["sequence_builder"] != batchSeq {
		t.Errorf("rebatch: sequence_builder %v", re["sequence_builder"])
	}
	checkJobs("rebatch", re["jobs"].([]any))
	open := createBatch(t, tokens["alice"], newBatch(projA, 1, map[string]any{"sequence_builder": batchSeq, "open": true}))
	added := expect(t, call(t, "POST", "/api/v2/batches/"+open["id"].(string)+"/jobs", tokens["alice"], []map[string]any{{"runs": 5}}, false), 200).data()
	if n := len(added["jobs"].([]any)); n != 2 {
		t.Errorf("the open batch has %d jobs after the addition, want 2", n)
	}
}
