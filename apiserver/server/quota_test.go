package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
)

var jobsQuota = corev1.ResourceName("count/jobs." + quantumv1alpha1.GroupVersion.Group)

// quotaProject creates a project with a member of its own (whose token it
// returns: the suite's users keep their project lists) and a ResourceQuota
// of `jobs` Jobs whose usage is computed (no kube-controller-manager runs
// in this suite: the test writes the first usage, kube-apiserver's
// admission counts from there).
func quotaProject(t *testing.T, id string, jobs int64) string {
	t.Helper()
	ctx := context.Background()
	name := "member-" + id[:8]
	if err := admin.Create(ctx, testenv.ProjectNamespace(id)); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: usersNS}}); err != nil {
		t.Fatal(err)
	}
	if err := bindMember(ctx, id, name); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(usersNS).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hard := corev1.ResourceList{jobsQuota: *resource.NewQuantity(jobs, resource.DecimalSI)}
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: id, Name: quantumv1alpha1.ProjectGuardRails},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}
	if err := admin.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	q.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: corev1.ResourceList{jobsQuota: resource.MustParse("0")}}
	if err := admin.Status().Update(ctx, q); err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// storedBatches returns the project's batches with the number of Jobs each
// one owns.
func storedBatches(t *testing.T, ns string) map[string]int {
	t.Helper()
	ctx := context.Background()
	var batches quantumv1alpha1.BatchList
	if err := admin.List(ctx, &batches, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var jobs quantumv1alpha1.JobList
	if err := admin.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, b := range batches.Items {
		out[b.Name] = 0
		for _, j := range jobs.Items {
			if o := metav1.GetControllerOf(&j); o != nil && o.UID == b.UID {
				out[b.Name]++
			}
		}
	}
	return out
}

// A batch or an addition of jobs that the project's job quota has no room
// for is refused with 403 naming the quota and the resource, before
// anything is written.
func TestAFullJobQuotaIsRefusedBeforeAnythingIsWritten(t *testing.T) {
	const proj = "5a1e7c3d-2b4f-4e6a-9c8d-0f1e2d3c4b05"
	member := quotaProject(t, proj, 3)

	first := createBatch(t, member, newBatch(proj, 2, map[string]any{"open": true}))
	r := call(t, "POST", "/api/v1/batches", member, newBatch(proj, 2, nil), true)
	envelopeFail(t, r, 403, "the project's quota is used up: exceeded quota: "+quantumv1alpha1.ProjectGuardRails)
	envelopeFail(t, r, 403, "requested: "+string(jobsQuota)+"=2, used: "+string(jobsQuota)+"=2, limited: "+string(jobsQuota)+"=3")

	r = call(t, "POST", "/api/v1/batches/"+first["id"].(string)+"/jobs", member, jobsOf(10, 10), true)
	envelopeFail(t, r, 403, "limited: "+string(jobsQuota)+"=3")

	stored := storedBatches(t, proj)
	if len(stored) != 1 || stored[first["id"].(string)] != 2 {
		t.Fatalf("stored batches and their jobs: %v, want only the first with its 2", stored)
	}
	b := &quantumv1alpha1.Batch{}
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: proj, Name: first["id"].(string)}, b); err != nil {
		t.Fatal(err)
	}
	if len(b.Spec.Jobs) != 2 {
		t.Fatalf("the refused addition changed the batch: %d jobs in its spec, want 2", len(b.Spec.Jobs))
	}
	// One job still fits.
	expect(t, call(t, "POST", "/api/v1/batches/"+first["id"].(string)+"/jobs", member, jobsOf(10), true), 200)
}

// Concurrent creates all pass the facade's check while the quota is empty;
// the controller is then refused Jobs for all but the first, and each of
// those creates answers 403 with the controller's quota message and leaves
// no batch behind: never a 500, never a batch without all its jobs.
func TestConcurrentCreatesAtTheQuotaLeaveNoHalfMadeBatch(t *testing.T) {
	const proj = "6b2f8d4e-3c5a-4f7b-8d9e-1a2b3c4d5e06"
	member := quotaProject(t, proj, 3)

	const n = 6
	var (
		wg        sync.WaitGroup
		responses = make([]response, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			responses[i] = call(t, "POST", "/api/v1/batches", member, newBatch(proj, 2, nil), true)
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, r := range responses {
		switch r.status {
		case 200:
			ok++
		case 403:
			refused++
			envelopeFail(t, r, 403, "the project's quota is used up: exceeded quota: "+quantumv1alpha1.ProjectGuardRails)
			if desc, _ := r.data()["description"].(string); !strings.Contains(desc, string(jobsQuota)) {
				t.Errorf("a refusal that does not name the resource: %s", desc)
			}
		default:
			t.Errorf("a concurrent create answered %d: %s", r.status, r.raw)
		}
	}
	if ok > 1 || refused < n-1 {
		t.Fatalf("%d created, %d refused; a quota of 3 jobs has room for one batch of 2", ok, refused)
	}
	stored := storedBatches(t, proj)
	if len(stored) != ok {
		t.Fatalf("%d batches stored after %d successful creates: %v", len(stored), ok, stored)
	}
	for name, jobs := range stored {
		if jobs != 2 {
			t.Errorf("batch %s has %d of its 2 jobs", name, jobs)
		}
	}
}
