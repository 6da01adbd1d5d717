package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/server"
	"github.com/tweezer-dev/tweezer/internal/sequences"
)

// workloadWithSequence is a pulser_basic workload of project whose config
// carries seq.
func workloadWithSequence(project, seq string) map[string]any {
	w := pulserWorkload(project)
	w["config"].(map[string]any)["sequence_builder"] = seq
	return w
}

// configOf is the config a workload document serves, its sequence_builder
// checked against want.
func configOf(t *testing.T, what string, doc map[string]any, want string) {
	t.Helper()
	cfg, _ := doc["config"].(map[string]any)
	if cfg == nil || cfg["sequence_builder"] != want || cfg["runs"] != float64(20) {
		got, _ := json.Marshal(doc["config"])
		t.Errorf("%s: config %.80s…, want the one sent (sequence of %d bytes, 20 runs)", what, got, len(want))
	}
}

// A workload whose config is larger than --inline-sequence-bytes keeps it in
// a ConfigMap it owns: the Workload stays small for its status writes and
// watchers, and every document serves the config as sent. A config kept in
// the Workload but too large for the cache (a kubectl user's, or with the
// split off) is read from kube-apiserver for the documents.
func TestLargeWorkloadConfigsLiveInAConfigMapTheWorkloadOwns(t *testing.T) {
	ctx := context.Background()
	withFacade(t, func(c *server.Config) { c.InlineSequenceBytes = 1024 })
	alice := tokens["alice"]
	seq := bigSequence(2000, "workload")
	r := expect(t, call(t, "POST", "/api/v1/workloads", alice, workloadWithSequence(projA, seq), false), 200)
	id := r.data()["id"].(string)
	configOf(t, "the create's answer", r.data(), seq)

	stored := &quantumv1alpha1.Workload{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: projA, Name: id}, stored); err != nil {
		t.Fatal(err)
	}
	if stored.Spec.Config != nil || stored.Spec.ConfigFrom != sequences.WorkloadConfigMapName(id) {
		t.Fatalf("stored workload: config %v, configFrom %q; want no config and the ConfigMap", stored.Spec.Config != nil, stored.Spec.ConfigFrom)
	}
	cm := &corev1.ConfigMap{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: projA, Name: stored.Spec.ConfigFrom}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Immutable == nil || !*cm.Immutable || len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != stored.UID || cm.OwnerReferences[0].Kind != "Workload" {
		t.Fatalf("ConfigMap immutable %v, owners %v; want immutable and owned by workload %s", cm.Immutable, cm.OwnerReferences, stored.UID)
	}
	var kept map[string]any
	if err := json.Unmarshal([]byte(cm.Data[sequences.WorkloadKey]), &kept); err != nil || kept["sequence_builder"] != seq {
		t.Fatalf("ConfigMap key %q: %v (%.60s…)", sequences.WorkloadKey, err, cm.Data[sequences.WorkloadKey])
	}

	configOf(t, "GET /api/v2/workloads/{id}", expect(t, call(t, "GET", "/api/v2/workloads/"+id, alice, nil, false), 200).data(), seq)
	configOf(t, "GET /api/v1/workloads/{id}", expect(t, call(t, "GET", "/api/v1/workloads/"+id, alice, nil, false), 200).data(), seq)
	list := expect(t, call(t, "GET", "/api/v1/workloads?id="+id, alice, nil, false), 200).list()
	if len(list) != 1 {
		t.Fatalf("list by id: %d workloads", len(list))
	}
	configOf(t, "GET /api/v1/workloads", list[0].(map[string]any), seq)

	// A small config stays in the Workload.
	small := expect(t, call(t, "POST", "/api/v1/workloads", alice, pulserWorkload(projA), false), 200).data()["id"].(string)
	if err := admin.Get(ctx, client.ObjectKey{Namespace: projA, Name: small}, stored); err != nil || stored.Spec.Config == nil || stored.Spec.ConfigFrom != "" {
		t.Fatalf("a small config: %v, configFrom %q", err, stored.Spec.ConfigFrom)
	}

	// With the split off, a 5 KiB config stays in the Workload, and the
	// caches drop it: the documents read it back.
	withFacade(t, func(c *server.Config) { c.InlineSequenceBytes = -1 })
	mid := bigSequence(5000, "inline")
	inline := expect(t, call(t, "POST", "/api/v1/workloads", alice, workloadWithSequence(projA, mid), false), 200).data()["id"].(string)
	if err := admin.Get(ctx, client.ObjectKey{Namespace: projA, Name: inline}, stored); err != nil || stored.Spec.Config == nil || stored.Spec.ConfigFrom != "" {
		t.Fatalf("with the split off: %v, configFrom %q", err, stored.Spec.ConfigFrom)
	}
	configOf(t, "GET /api/v2/workloads/{id} of a config the cache dropped", expect(t, call(t, "GET", "/api/v2/workloads/"+inline, alice, nil, false), 200).data(), mid)
	list = expect(t, call(t, "GET", "/api/v1/workloads?id="+inline, alice, nil, false), 200).list()
	if len(list) != 1 {
		t.Fatalf("list by id: %d workloads", len(list))
	}
	configOf(t, "GET /api/v1/workloads of a config the cache dropped", list[0].(map[string]any), mid)
}

// A workload whose config cannot be written (a quota on ConfigMaps) is not
// created: the answer says why, and no Workload is left.
func TestAWorkloadWhoseConfigCannotBeWrittenIsNotCreated(t *testing.T) {
	ctx := context.Background()
	withFacade(t, func(c *server.Config) { c.InlineSequenceBytes = 1024 })
	const id = "4b7e9c1a-2d3f-4e5a-8b6c-7d8e9f0a1b2c"
	token := quotaProject(t, id, 1000)
	noConfigMaps(t, id)
	r := call(t, "POST", "/api/v1/workloads", token, workloadWithSequence(id, bigSequence(2000, "w")), false)
	envelopeFail(t, r, http.StatusForbidden, "writing the workload's config")
	envelopeFail(t, r, http.StatusForbidden, "the workload was not created")
	var left quantumv1alpha1.WorkloadList
	if err := admin.List(ctx, &left, client.InNamespace(id)); err != nil {
		t.Fatal(err)
	}
	for _, w := range left.Items {
		if w.DeletionTimestamp == nil {
			t.Fatalf("workload %s left after the refusal", w.Name)
		}
	}
	// A small config needs no ConfigMap and passes.
	expect(t, call(t, "POST", "/api/v1/workloads", token, pulserWorkload(id), false), 200)
}

// A tenant who goes straight to kube-apiserver and names in configFrom a
// ConfigMap of its project that the workload does not own gets none of
// its data through the facade, and the workload does not run: it ends in
// ERROR naming the field.
func TestConfigFromAnotherConfigMapServesNothing(t *testing.T) {
	ctx := context.Background()
	secret, alice := notForAlice(t, "not-for-alice-workloads", map[string]string{sequences.WorkloadKey: `{"private": "data"}`})
	w := &quantumv1alpha1.Workload{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "direct-", Namespace: projA},
		Spec: quantumv1alpha1.WorkloadSpec{WorkloadType: "qadence_circuit", Backend: quantumv1alpha1.BackendPulserBasic,
			ConfigFrom: secret.Name, UserID: userID("alice")},
	}
	if err := alice.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	eventuallyT(t, "the facade to see the workload", func() bool {
		return call(t, "GET", "/api/v2/workloads/"+w.Name, tokens["alice"], nil, false).status == http.StatusOK
	})
	for _, path := range []string{"/api/v1/workloads/", "/api/v2/workloads/"} {
		r := expect(t, call(t, "GET", path+w.Name, tokens["alice"], nil, false), 200)
		if got := r.data()["config"]; got != nil {
			t.Errorf("GET %s serves %v from a ConfigMap the workload does not own", path, got)
		}
	}
	eventuallyT(t, "the workload to end in ERROR naming spec.configFrom", func() bool {
		got := &quantumv1alpha1.Workload{}
		return admin.Get(ctx, client.ObjectKeyFromObject(w), got) == nil && got.Status.Phase == quantumv1alpha1.WorkloadError &&
			len(got.Status.Errors) == 1 && strings.Contains(got.Status.Errors[0], "spec.configFrom: ConfigMap "+secret.Name+" is not owned by the workload")
	})
}
