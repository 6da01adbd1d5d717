package server_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// waitListed waits until the facade lists n items for path (the cache catches up).
func waitListed(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := expect(t, call(t, "GET", path, tokens["alice"], nil, false), 200)
		if r.body["pagination"].(map[string]any)["total"] == float64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: total %v, want %d", path, r.body["pagination"], n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPaginationWalk(t *testing.T) {
	ctx := context.Background()
	const n = 250
	for i := range n {
		b := &quantumv1alpha1.Batch{
			ObjectMeta: metav1.ObjectMeta{Name: uuid.NewString(), Namespace: projBig},
			Spec: quantumv1alpha1.BatchSpec{
				SequenceBuilder: "{}", DeviceType: quantumv1alpha1.DeviceTypeEmuFree, Open: true,
				Priority: int32(i % 7), Tags: []string{"walk"}, UserID: "someone",
			},
		}
		if err := admin.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	base := "/api/v1/batches?tag=walk&project_id=" + projBig
	waitListed(t, base, n)
	walk := func(order string) []string {
		var all []string
		offset := 0
		for {
			r := expect(t, call(t, "GET", fmt.Sprintf("%s&%s&limit=100&offset=%d", base, order, offset), tokens["alice"], nil, false), 200)
			envelopeOK(t, r)
			p := r.body["pagination"].(map[string]any)
			if p["start"] != float64(offset) || p["total"] != float64(n) || p["end"] != float64(offset+len(r.list())) {
				t.Fatalf("pagination %v at offset %d", p, offset)
			}
			for _, it := range r.list() {
				shape(t, "listed batch", it.(map[string]any), batchFields)
			}
			all = append(all, ids(r)...)
			offset = int(p["end"].(float64))
			if offset >= n {
				return all
			}
		}
	}
	desc := walk("order_by=created_at")
	if len(desc) != n || len(slices.Compact(sorted(desc))) != n {
		t.Fatalf("walk saw %d batches, %d distinct", len(desc), len(slices.Compact(sorted(desc))))
	}
	asc := walk("order_by=created_at&order_by_direction=ASC")
	slices.Reverse(asc)
	if !slices.Equal(asc, desc) {
		t.Errorf("ASC is not DESC reversed")
	}
	// Ordering by priority, both ways.
	for _, dir := range []string{"ASC", "DESC"} {
		r := expect(t, call(t, "GET", base+"&order_by=priority&order_by_direction="+dir+"&limit=100", tokens["alice"], nil, false), 200)
		var prios []float64
		for _, it := range r.list() {
			prios = append(prios, it.(map[string]any)["priority"].(float64))
		}
		ok := slices.IsSorted(prios)
		if dir == "DESC" {
			slices.Reverse(prios)
			ok = slices.IsSorted(prios)
		}
		if !ok {
			t.Errorf("priority %s not ordered: %v", dir, prios)
		}
	}
	// Limit bounds and bad parameters.
	envelopeFail(t, call(t, "GET", base+"&limit=101", tokens["alice"], nil, false), 422, "limit")
	envelopeFail(t, call(t, "GET", base+"&limit=-1", tokens["alice"], nil, false), 422, "limit")
	envelopeFail(t, call(t, "GET", base+"&offset=-1", tokens["alice"], nil, false), 422, "offset")
	envelopeFail(t, call(t, "GET", base+"&order_by=colour", tokens["alice"], nil, false), 422, "order_by")
	envelopeFail(t, call(t, "GET", base+"&order_by_direction=UP", tokens["alice"], nil, false), 422, "order_by_direction")
	// The reference's limit is 1..100 (changed from 0..100: limit=0 used to answer an empty page).
	envelopeFail(t, call(t, "GET", base+"&limit=0", tokens["alice"], nil, false), 422, "limit")
	r := expect(t, call(t, "GET", base+"&offset=1000", tokens["alice"], nil, false), 200)
	if len(r.list()) != 0 {
		t.Errorf("offset past the end: %s", r.raw)
	}
}

func TestFilters(t *testing.T) {
	alice := tokens["alice"]
	tag := map[string]any{"tags": []string{"filters"}}
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{"tags": []string{"filters"}}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	before := time.Now().Add(-2 * time.Second).UTC()
	b1 := createBatch(t, alice, newBatch(projA, 1, tag))
	b2 := createBatch(t, alice, newBatch(projA, 3, with(map[string]any{"device_type": "EMU_TN", "open": true, "queue_priority": "LOW"})))
	b3 := createBatch(t, alice, newBatch(projA, 2, with(map[string]any{"device_type": "FRESNEL"})))
	b4 := createBatch(t, tokens["super"], newBatch(projA, 1, tag))
	expect(t, call(t, "PUT", "/api/v1/batches/"+b3["id"].(string)+"/cancel", alice, nil, false), 200)
	id := func(b map[string]any) string { return b["id"].(string) }
	all := []string{id(b1), id(b2), id(b3), id(b4)}
	base := "/api/v1/batches?tag=filters"
	cases := map[string][]string{
		"": all,
		"&device_type=EMU_TN&device_type=FRESNEL": {id(b2), id(b3)},
		"&status=CANCELED":                        {id(b3)},
		"&status=PENDING":                         {id(b1), id(b2), id(b4)},
		"&open=true":                              {id(b2)},
		"&open=False":                             {id(b1), id(b3), id(b4)},
		"&complete=true":                          {id(b1), id(b3), id(b4)},
		"&min_jobs=2":                             {id(b2), id(b3)},
		"&max_jobs=1":                             {id(b1), id(b4)},
		"&id=" + id(b1) + "&id=" + id(b4):         {id(b1), id(b4)},
		"&id__starts_with=" + id(b2)[:8]:          {id(b2)},
		"&user_id=system:serviceaccount:tweezer-users:super": {id(b4)},
		"&queue_priority=LOW":                                {id(b2)},
		"&project_id=" + projA:                               all,
		"&project_id=" + projB:                               {},
		// Dates filter on execution (the reference's semantics; they used to
		// filter on creation): none of these batches started, and only the
		// canceled b3 has ended.
		"&start_date=" + url.QueryEscape(before.Format(time.RFC3339)):                    {},
		"&end_date=" + url.QueryEscape(before.Format("2006-01-02T15:04:05")):             {},
		"&end_date=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)):   {id(b3)},
		"&start_date=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)): {},
	}
	for q, want := range cases {
		r := expect(t, call(t, "GET", base+q, alice, nil, false), 200)
		if got := sorted(ids(r)); !slices.Equal(got, sorted(want)) {
			t.Errorf("batches%s: got %d %v, want %d", q, len(got), got, len(want))
		}
	}
	envelopeFail(t, call(t, "GET", base+"&status=SLEEPING", alice, nil, false), 422, "status")
	envelopeFail(t, call(t, "GET", base+"&open=maybe", alice, nil, false), 422, "open")
	envelopeFail(t, call(t, "GET", base+"&min_jobs=two", alice, nil, false), 422, "min_jobs")
	envelopeFail(t, call(t, "GET", base+"&start_date=yesterday", alice, nil, false), 422, "start_date")

	// Jobs: b2 has runs 10, 11, 12; give its second job an error.
	j := b2["jobs"].([]any)
	j0, j1 := j[0].(map[string]any)["id"].(string), j[1].(map[string]any)["id"].(string)
	expect(t, call(t, "POST", "/api/v1/jobs/"+j1+"/errors", tokens["worker"], map[string]any{"errors": []string{"boom"}}, false), 200)
	// j0 started after before; the others never did.
	expect(t, call(t, "PUT", "/api/v1/jobs/"+j0+"/status", tokens["worker"], map[string]any{"status": "RUNNING", "start_timestamp": time.Now().UTC().Format(time.RFC3339Nano)}, false), 200)
	jb := "/api/v2/jobs?batch_id=" + id(b2)
	jobCases := map[string]int{
		"":                           3,
		"&min_runs=11":               2,
		"&max_runs=10":               1,
		"&min_runs=11&max_runs=11":   1,
		"&errors=true":               1,
		"&errors=false":              2,
		"&status=PENDING":            2,
		"&status=RUNNING":            1,
		"&status=CANCELED":           0,
		"&origin=CLIENT":             3,
		"&origin=AZURE":              0,
		"&id=" + j0:                  1,
		"&id__starts_with=" + j0[:6]: 1,
		"&project_id=" + projA:       3,
		"&project_id=" + projB:       0,
		"&user_id=system:serviceaccount:tweezer-users:alice": 3,
		"&user_id=nobody": 0,
		"&start_date=" + url.QueryEscape(before.Format(time.RFC3339)):                  1,
		"&end_date=" + url.QueryEscape(before.Format(time.RFC3339)):                    0,
		"&end_date=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)): 0,
	}
	for q, want := range jobCases {
		r := expect(t, call(t, "GET", jb+q, alice, nil, false), 200)
		if len(r.list()) != want || r.body["pagination"].(map[string]any)["total"] != float64(want) {
			t.Errorf("jobs%s: got %d, want %d", q, len(r.list()), want)
		}
	}
	// The status index across batches: b3's two jobs are the canceled ones of the tag set.
	r := expect(t, call(t, "GET", "/api/v1/jobs?status=CANCELED&batch_id="+id(b3), alice, nil, false), 200)
	if len(r.list()) != 2 {
		t.Errorf("canceled jobs of b3: %s", r.raw)
	}
	for _, it := range r.list() {
		shape(t, "v1 listed job", it.(map[string]any), jobFields, "result", "full_result")
	}
	r = expect(t, call(t, "GET", "/api/v2/jobs?status=CANCELED&limit=100", alice, nil, false), 200)
	for _, it := range r.list() {
		if it.(map[string]any)["status"] != "CANCELED" {
			t.Errorf("status filter leaked %v", it)
		}
	}
	// Ordering jobs both ways.
	asc := ids(expect(t, call(t, "GET", jb+"&order_by=creation_order&order_by_direction=ASC", alice, nil, false), 200))
	desc := ids(expect(t, call(t, "GET", jb+"&order_by=creation_order&order_by_direction=DESC", alice, nil, false), 200))
	slices.Reverse(desc)
	if !slices.Equal(asc, desc) || asc[0] != j0 {
		t.Errorf("job order: %v vs %v", asc, desc)
	}
	envelopeFail(t, call(t, "GET", jb+"&origin=MARS", alice, nil, false), 422, "origin")
	envelopeFail(t, call(t, "GET", jb+"&errors=perhaps", alice, nil, false), 422, "errors")
	envelopeFail(t, call(t, "GET", jb+"&order_by=colour", alice, nil, false), 422, "order_by")

	// A batch read right after a write sees it.
	var batch quantumv1alpha1.Batch
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id(b3)}, &batch); err != nil || batch.Status.Phase != quantumv1alpha1.BatchCanceled {
		t.Errorf("b3 status: %v %v", err, batch.Status.Phase)
	}
}
