package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/server"
)

// kubeAs is a client of kube-apiserver itself (not the facade) holding a
// tenant's bearer token: how a user gets around the facade.
func kubeAs(t *testing.T, token string) client.Client {
	t.Helper()
	cfg := &rest.Config{Host: restCfg.Host, TLSClientConfig: rest.TLSClientConfig{CAData: restCfg.CAData}, BearerToken: token}
	c, err := client.New(cfg, client.Options{Scheme: server.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// refused fails unless err is an admission denial by policy whose message holds want.
func refused(t *testing.T, err error, policy, want string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("accepted; want refused by %s (%q)", policy, want)
	case !strings.Contains(err.Error(), policy) || !strings.Contains(err.Error(), want):
		t.Fatalf("refused with %v; want %s saying %q", err, policy, want)
	}
}

func directBatch(ns string) *quantumv1alpha1.Batch {
	return &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "direct-", Namespace: ns},
		Spec: quantumv1alpha1.BatchSpec{
			SequenceBuilder: `{"version":"1","name":"seq"}`, DeviceType: quantumv1alpha1.DeviceTypeFresnel,
			Open: true,
		},
	}
}

// withDeviceLimit gives the suite's FRESNEL device a one-hour time limit for
// the test, and takes it away after.
func withDeviceLimit(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var d quantumv1alpha1.Device
	if err := admin.Get(ctx, client.ObjectKey{Name: "fresnel"}, &d); err != nil {
		t.Fatal(err)
	}
	orig := d.DeepCopy()
	d.Spec.TimeLimit = &metav1.Duration{Duration: time.Hour}
	if err := admin.Patch(ctx, &d, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cur := d.DeepCopy()
		d.Spec.TimeLimit = nil
		_ = admin.Patch(context.Background(), &d, client.MergeFrom(cur))
	})
}

// Through the kube API, a project member cannot raise a batch above the
// project's queue priority, nor hold a device longer than its limit.
func TestAdmissionBatchLimits(t *testing.T) {
	ctx := context.Background()
	alice := kubeAs(t, tokens["alice"])
	withDeviceLimit(t)

	b := directBatch(projA)
	b.Spec.QueuePriority = quantumv1alpha1.QueuePriorityHigh
	refused(t, alice.Create(ctx, b), "tweezer-queue-priority", "spec.queuePriority: HIGH is above the maximum MEDIUM of project "+projA)

	b = directBatch(projA)
	b.Spec.TimeLimit = &metav1.Duration{Duration: 8760 * time.Hour}
	refused(t, alice.Create(ctx, b), "tweezer-time-limit", "spec.timeLimit: 8760h0m0s is above the limit 1h0m0s of device fresnel")

	// Within the limits the same member may create, and is the owner.
	ok := directBatch(projA)
	ok.Spec.QueuePriority = quantumv1alpha1.QueuePriorityMedium
	ok.Spec.TimeLimit = &metav1.Duration{Duration: 30 * time.Minute}
	if err := alice.Create(ctx, ok); err != nil {
		t.Fatalf("a batch within the limits: %v", err)
	}
	if ok.Spec.UserID != userID("alice") {
		t.Errorf("owner %q, want %q (set from the request's user)", ok.Spec.UserID, userID("alice"))
	}
	// Raising either afterwards is refused too.
	up := ok.DeepCopy()
	up.Spec.QueuePriority = quantumv1alpha1.QueuePriorityHigh
	refused(t, alice.Patch(ctx, up, client.MergeFrom(ok)), "tweezer-queue-priority", "HIGH is above the maximum MEDIUM")
	up = ok.DeepCopy()
	up.Spec.TimeLimit = &metav1.Duration{Duration: 8760 * time.Hour}
	refused(t, alice.Patch(ctx, up, client.MergeFrom(ok)), "tweezer-time-limit", "above the limit 1h0m0s")

	// The project's own maximum is read from its namespace: projBig allows
	// nothing above MEDIUM either until labelled HIGH.
	hi := directBatch(projBig)
	hi.Spec.QueuePriority = quantumv1alpha1.QueuePriorityHigh
	refused(t, alice.Create(ctx, hi), "tweezer-queue-priority", "above the maximum MEDIUM")
}

// Only a workload's owner cancels it, even straight through the kube API.
func TestAdmissionWorkloadCancelByOwnerOnly(t *testing.T) {
	ctx := context.Background()
	alice, carol := kubeAs(t, tokens["alice"]), kubeAs(t, carolToken(t))
	w := &quantumv1alpha1.Workload{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "direct-", Namespace: projA},
		Spec: quantumv1alpha1.WorkloadSpec{
			WorkloadType: "qadence_circuit", Backend: quantumv1alpha1.BackendPulserBasic,
			Config: apiextensionsv1.JSON{Raw: []byte(`{"runs": 1}`)},
		},
	}
	if err := alice.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	if w.Spec.UserID != userID("alice") {
		t.Fatalf("owner %q, want alice", w.Spec.UserID)
	}
	cancel := w.DeepCopy()
	cancel.Spec.Canceled = true
	refused(t, carol.Patch(ctx, cancel, client.MergeFrom(w)), "tweezer-workload-cancel", "only the owner of workload "+w.Name)
	if err := alice.Patch(ctx, cancel, client.MergeFrom(w)); err != nil {
		t.Fatalf("the owner's cancel: %v", err)
	}
}

// A member cannot approve their own use case or make it an example shown to
// every user; a reviewer (tweezer-superuser) can.
func TestAdmissionUseCaseByRole(t *testing.T) {
	ctx := context.Background()
	alice, reviewer := kubeAs(t, tokens["alice"]), kubeAs(t, tokens["super"])
	newUC := func(st quantumv1alpha1.ValidationStatus, example bool) *quantumv1alpha1.UseCase {
		return &quantumv1alpha1.UseCase{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "direct-", Namespace: projA},
			Spec:       quantumv1alpha1.UseCaseSpec{Title: "mine", ValidationStatus: st, Example: example},
		}
	}
	refused(t, alice.Create(ctx, newUC(quantumv1alpha1.ValidationApproved, false)), "tweezer-use-case-review", "starts in DRAFT or UNDER_REVIEW, not APPROVED")
	refused(t, alice.Create(ctx, newUC(quantumv1alpha1.ValidationDraft, true)), "tweezer-use-case-review", "only a reviewer marks a use case as an example")

	u := newUC(quantumv1alpha1.ValidationDraft, false)
	if err := alice.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	move := func(c client.Client, st quantumv1alpha1.ValidationStatus, example bool) error {
		cur := &quantumv1alpha1.UseCase{}
		if err := admin.Get(ctx, client.ObjectKeyFromObject(u), cur); err != nil {
			t.Fatal(err)
		}
		next := cur.DeepCopy()
		next.Spec.ValidationStatus, next.Spec.Example = st, example
		return c.Patch(ctx, next, client.MergeFrom(cur))
	}
	refused(t, move(alice, quantumv1alpha1.ValidationDraft, true), "tweezer-use-case-review", "only a reviewer marks")
	if err := move(alice, quantumv1alpha1.ValidationUnderReview, false); err != nil {
		t.Fatalf("the author submits: %v", err)
	}
	refused(t, move(alice, quantumv1alpha1.ValidationApproved, false), "tweezer-use-case-review", "only a reviewer may move a use case from UNDER_REVIEW to APPROVED")
	if err := move(reviewer, quantumv1alpha1.ValidationApproved, true); err != nil {
		t.Fatalf("the reviewer approves and makes it an example: %v", err)
	}
	refused(t, move(alice, quantumv1alpha1.ValidationApproved, false), "tweezer-use-case-review", "only a reviewer marks")
}

// The owner of what a member creates is the member, never what the body says.
func TestAdmissionOwnerIsTheCaller(t *testing.T) {
	ctx := context.Background()
	alice := kubeAs(t, tokens["alice"])
	b := directBatch(projA)
	b.Spec.UserID = userID("carol")
	refused(t, alice.Create(ctx, b), "tweezer-owner", "spec.userID: must be your own user name "+userID("alice")+", not "+userID("carol"))

	u := &quantumv1alpha1.UseCase{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "direct-", Namespace: projA},
		Spec:       quantumv1alpha1.UseCaseSpec{Title: "forged", UserID: userID("carol")},
	}
	refused(t, alice.Create(ctx, u), "tweezer-owner", "must be your own user name")

	// Taking over someone else's object later is refused as well.
	own := directBatch(projA)
	if err := alice.Create(ctx, own); err != nil {
		t.Fatal(err)
	}
	stolen := own.DeepCopy()
	stolen.Spec.UserID = userID("carol")
	refused(t, alice.Patch(ctx, stolen, client.MergeFrom(own)), "tweezer-owner", "the owner "+userID("alice")+" cannot be changed")
}
