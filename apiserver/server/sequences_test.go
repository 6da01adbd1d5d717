package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/server"
	"github.com/tweezer-dev/tweezer/internal/sequences"
)

// bigSequence is a sequence padded by its name to about n bytes.
func bigSequence(n int, tag string) string {
	return `{"version":"1","name":"` + tag + strings.Repeat("x", n) + `"}`
}

// A batch whose sequences are larger than --inline-sequence-bytes keeps
// them in a ConfigMap it owns: the Batch object stays small, and every
// document (the create's answer, v1 and v2 reads, a job's own sequence, a
// rebatch) serves them as sent.
func TestLargeSequencesLiveInAConfigMapTheBatchOwns(t *testing.T) {
	ctx := context.Background()
	withFacade(t, func(c *server.Config) { c.InlineSequenceBytes = 1024 })
	alice := tokens["alice"]
	seq, own := bigSequence(2000, "batch"), bigSequence(1500, "own")
	r := expect(t, call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 0, map[string]any{
		"sequence_builder": seq,
		"jobs":             []map[string]any{{"runs": 5}, {"runs": 6, "sequence": own}},
	}), false), 200)
	id := r.data()["id"].(string)
	if r.data()["sequence_builder"] != seq {
		t.Fatalf("the create's answer has sequence_builder of %d bytes, want the one sent", len(r.data()["sequence_builder"].(string)))
	}

	stored := &quantumv1alpha1.Batch{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: projA, Name: id}, stored); err != nil {
		t.Fatal(err)
	}
	if stored.Spec.SequencesFrom != sequences.ConfigMapName(id) || stored.Spec.SequenceBuilder != "" || stored.Spec.Jobs[1].Sequence != "" {
		t.Fatalf("stored batch: sequencesFrom %q, sequenceBuilder %d bytes, job 1's %d bytes; want the ConfigMap and empty fields",
			stored.Spec.SequencesFrom, len(stored.Spec.SequenceBuilder), len(stored.Spec.Jobs[1].Sequence))
	}
	cm := &corev1.ConfigMap{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: projA, Name: stored.Spec.SequencesFrom}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Immutable == nil || !*cm.Immutable || len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != stored.UID {
		t.Fatalf("ConfigMap immutable %v, owners %v; want immutable and owned by batch %s", cm.Immutable, cm.OwnerReferences, stored.UID)
	}
	if cm.Data[sequences.BatchKey] != seq || cm.Data[sequences.JobKey(1)] != own {
		t.Fatalf("ConfigMap keys %v", keysOf(cm.Data))
	}

	// Reads serve the sequences as sent.
	v2 := expect(t, call(t, "GET", "/api/v2/batches/"+id, alice, nil, false), 200)
	if v2.data()["sequence_builder"] != seq {
		t.Error("GET /api/v2/batches/{id} does not serve the batch's sequence")
	}
	v1 := expect(t, call(t, "GET", "/api/v1/batches/"+id, alice, nil, false), 200)
	if v1.data()["sequence_builder"] != seq {
		t.Error("GET /api/v1/batches/{id} does not serve the batch's sequence")
	}
	jobs := v1.data()["jobs"].([]any)
	var ownID string
	for _, j := range jobs {
		j := j.(map[string]any)
		switch j["runs"] {
		case 5.0:
			if j["sequence"] != nil {
				t.Errorf("job 1 runs the batch's sequence, its own is %v", j["sequence"])
			}
		case 6.0:
			ownID = j["id"].(string)
			if j["sequence"] != own {
				t.Error("GET /api/v1/batches/{id} does not serve job 2's own sequence")
			}
		}
	}
	if one := expect(t, call(t, "GET", "/api/v1/jobs/"+ownID, alice, nil, false), 200); one.data()["sequence"] != own {
		t.Error("GET /api/v1/jobs/{id} does not serve the job's own sequence")
	}

	// A rebatch copies them into a ConfigMap of its own.
	rb := expect(t, call(t, "POST", "/api/v1/batches/"+id+"/rebatch", alice, nil, false), 200)
	child := rb.data()["id"].(string)
	if rb.data()["sequence_builder"] != seq {
		t.Error("the rebatch's answer does not carry the batch's sequence")
	}
	copied := &corev1.ConfigMap{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: projA, Name: sequences.ConfigMapName(child)}, copied); err != nil {
		t.Fatalf("the rebatch has no sequences ConfigMap: %v", err)
	}
	if copied.Data[sequences.BatchKey] != seq || len(copied.Data) != 2 {
		t.Fatalf("the rebatch's ConfigMap keys %v", keysOf(copied.Data))
	}

	// Jobs added to an open batch run its sequence: they need none of their own.
	open := expect(t, call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 1, map[string]any{
		"sequence_builder": seq, "open": true,
	}), false), 200)
	expect(t, call(t, "POST", "/api/v2/batches/"+open.data()["id"].(string)+"/jobs", alice, []map[string]any{{"runs": 3}}, false), 200)
}

// When the ConfigMap cannot be written, the batch is withdrawn: nothing is
// left, and the answer says why.
func TestABatchWhoseSequencesCannotBeWrittenIsNotCreated(t *testing.T) {
	withFacade(t, func(c *server.Config) { c.InlineSequenceBytes = 1024 })
	const id = "9f5b0e6c-4a7d-4c2e-9b0f-6e0a8c2d5f09"
	token := quotaProject(t, id, 1000)
	noConfigMaps(t, id)
	r := call(t, "POST", "/api/v1/batches", token, newBatch(id, 1, map[string]any{"sequence_builder": bigSequence(2000, "b")}), false)
	envelopeFail(t, r, http.StatusForbidden, "writing the batch's sequences")
	envelopeFail(t, r, http.StatusForbidden, "the batch was not created")
	if n := len(storedBatches(t, id)); n != 0 {
		t.Fatalf("%d batches left after the refusal", n)
	}
}

// noConfigMaps gives the project ns a quota of no ConfigMaps, its usage
// computed (as kube-controller-manager would), so that creating one is refused.
func noConfigMaps(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-configmaps"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceConfigMaps: resource.MustParse("0")}},
	}
	if err := admin.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourceConfigMaps: resource.MustParse("0")}}
	if err := admin.Status().Update(ctx, q); err != nil {
		t.Fatal(err)
	}
}

// notForAlice creates, until the test ends, a ConfigMap name of project A
// holding data that alice's role may not read, and returns it with a client
// that is alice straight at kube-apiserver.
func notForAlice(t *testing.T, name string, data map[string]string) (*corev1.ConfigMap, client.Client) {
	t.Helper()
	ctx := context.Background()
	secret := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: projA, Name: name}, Data: data}
	if err := admin.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(ctx, secret) })
	alice := kubeAs(t, tokens["alice"])
	if err := alice.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.ConfigMap{}); err == nil {
		t.Fatal("alice reads the project's ConfigMaps herself: the test proves nothing")
	}
	return secret, alice
}

func keysOf(m map[string]string) []string {
	var keys []string
	for k, v := range m {
		keys = append(keys, k+"="+v[:min(len(v), 20)])
	}
	return keys
}

// A tenant who goes straight to kube-apiserver and names in sequencesFrom
// a ConfigMap of its project that the batch does not own (a job's result,
// which its role may not read) gets none of that ConfigMap's data through
// the facade.
func TestSequencesFromAnotherConfigMapServeNothing(t *testing.T) {
	ctx := context.Background()
	secret, alice := notForAlice(t, "not-for-alice", map[string]string{sequences.BatchKey: "private data"})
	b := directBatch(projA)
	b.Spec.SequenceBuilder, b.Spec.SequencesFrom = "", secret.Name
	if err := alice.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	// The facade reads batches from its cache, which sees a batch created
	// straight at kube-apiserver a moment later.
	eventuallyT(t, "the facade to see the batch", func() bool {
		return call(t, "GET", "/api/v1/batches/"+b.Name, tokens["alice"], nil, false).status == http.StatusOK
	})
	for _, path := range []string{"/api/v1/batches/", "/api/v2/batches/"} {
		r := expect(t, call(t, "GET", path+b.Name, tokens["alice"], nil, false), 200)
		if got := r.data()["sequence_builder"]; got != "" {
			t.Errorf("GET %s serves %q from a ConfigMap the batch does not own", path, got)
		}
	}
}
