package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/server"
	"github.com/tweezer-dev/tweezer/hack/testenv"
)

// The tenancy tests' own projects and members, so that what they create
// stays out of the other tests' lists: tina and tom are members of tenantA,
// tess of tenantB.
const (
	tenantA = "5a1e4c2b-93d7-4f06-8b1a-6c2e7d9f0a11"
	tenantB = "e7b3d9a0-1c4f-4a8e-b2d6-9f0e3a5c7b22"
)

var (
	tenantsOnce   sync.Once
	tenantsErr    error
	tenantsTokens = map[string]string{}
)

// tenants creates the tenancy tests' projects and members once and returns the members' tokens.
func tenants(t testing.TB) map[string]string {
	t.Helper()
	tenantsOnce.Do(func() {
		ctx := context.Background()
		if tenantsErr = admin.Create(ctx, testenv.ProjectNamespace(tenantA)); tenantsErr != nil {
			return
		}
		if tenantsErr = admin.Create(ctx, testenv.ProjectNamespace(tenantB)); tenantsErr != nil {
			return
		}
		for name, project := range map[string]string{"tina": tenantA, "tom": tenantA, "tess": tenantB} {
			if tenantsTokens[name], tenantsErr = newUser(ctx, name); tenantsErr != nil {
				return
			}
			if tenantsErr = bindMember(ctx, project, name); tenantsErr != nil {
				return
			}
		}
	})
	if tenantsErr != nil {
		t.Fatal(tenantsErr)
	}
	return tenantsTokens
}

// kubeAs is a client of kube-apiserver itself (not the facade) holding a
// tenant's bearer token: how a user gets around the facade.
func kubeAs(t testing.TB, token string) client.Client {
	t.Helper()
	cfg := &rest.Config{Host: restCfg.Host, TLSClientConfig: rest.TLSClientConfig{CAData: restCfg.CAData}, BearerToken: token, QPS: 500, Burst: 1000}
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
	tok := tenants(t)
	ctx := context.Background()
	tina := kubeAs(t, tok["tina"])
	withDeviceLimit(t)

	b := directBatch(tenantA)
	b.Spec.QueuePriority = quantumv1alpha1.QueuePriorityHigh
	refused(t, tina.Create(ctx, b), "tweezer-queue-priority", "spec.queuePriority: HIGH is above the maximum MEDIUM of project "+tenantA)

	b = directBatch(tenantA)
	b.Spec.TimeLimit = &metav1.Duration{Duration: 8760 * time.Hour}
	refused(t, tina.Create(ctx, b), "tweezer-time-limit", "spec.timeLimit: 8760h0m0s is above the limit 1h0m0s of device fresnel")

	// Within the limits the same member may create, and is the owner.
	ok := directBatch(tenantA)
	ok.Spec.QueuePriority = quantumv1alpha1.QueuePriorityMedium
	ok.Spec.TimeLimit = &metav1.Duration{Duration: 30 * time.Minute}
	if err := tina.Create(ctx, ok); err != nil {
		t.Fatalf("a batch within the limits: %v", err)
	}
	if ok.Spec.UserID != userID("tina") {
		t.Errorf("owner %q, want %q (set from the request's user)", ok.Spec.UserID, userID("tina"))
	}
	// Raising either afterwards is refused too.
	up := ok.DeepCopy()
	up.Spec.QueuePriority = quantumv1alpha1.QueuePriorityHigh
	refused(t, tina.Patch(ctx, up, client.MergeFrom(ok)), "tweezer-queue-priority", "HIGH is above the maximum MEDIUM")
	up = ok.DeepCopy()
	up.Spec.TimeLimit = &metav1.Duration{Duration: 8760 * time.Hour}
	refused(t, tina.Patch(ctx, up, client.MergeFrom(ok)), "tweezer-time-limit", "above the limit 1h0m0s")

	// The maximum is the project namespace's label: once it says HIGH, HIGH is fine.
	var ns corev1.Namespace
	if err := admin.Get(ctx, client.ObjectKey{Name: tenantA}, &ns); err != nil {
		t.Fatal(err)
	}
	orig := ns.DeepCopy()
	ns.Labels[quantumv1alpha1.MaxQueuePriorityLabel] = string(quantumv1alpha1.QueuePriorityHigh)
	if err := admin.Patch(ctx, &ns, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Patch(ctx, orig, client.MergeFrom(&ns)) }()
	// (kube-apiserver sees the namespace's new label through its informer, shortly.)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		hi := directBatch(tenantA)
		hi.Spec.QueuePriority = quantumv1alpha1.QueuePriorityHigh
		err := tina.Create(ctx, hi)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HIGH in a project whose maximum is HIGH: %v", err)
		}
	}
}

// Through the kube API, a project member cannot point a batch's webhook at a
// literal internal address (the facade answers 422 for the same).
func TestAdmissionWebhookTarget(t *testing.T) {
	tok := tenants(t)
	ctx := context.Background()
	tina := kubeAs(t, tok["tina"])
	for _, hook := range []string{
		"http://127.0.0.1/hook", "http://10.1.2.3/", "http://169.254.169.254/latest", "http://100.64.0.1/",
		"http://192.0.0.8/", "http://198.18.0.1/", "http://240.0.0.1/", "http://0.0.0.0/", "http://224.0.0.1/",
		"http://[::1]/", "http://[::a00:1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b:1::1]/",
		"http://[2002:a00:1::1]/", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "http://[fd00::1]/",
		"http://[fe80::1]/", "http://[ff02::1]/", "http://127.0.0.1./",
	} {
		b := directBatch(tenantA)
		b.Spec.Webhook = hook
		refused(t, tina.Create(ctx, b), "tweezer-webhook-target", "spec.webhook: ")
	}
	b := directBatch(tenantA)
	b.Spec.Webhook = "http://[::ffff:10.0.0.1]/"
	refused(t, tina.Create(ctx, b), "tweezer-webhook-target", "write the IPv4 address")

	// Public addresses and names pass (names are checked at delivery).
	ok := directBatch(tenantA)
	ok.Spec.Webhook = "https://203.0.113.7/hook"
	if err := tina.Create(ctx, ok); err != nil {
		t.Fatalf("a public literal address: %v", err)
	}
	for _, hook := range []string{"https://hooks.example.com/x", "https://[2001:db8::1]/"} {
		b := directBatch(tenantA)
		b.Spec.Webhook = hook
		if err := tina.Create(ctx, b); err != nil {
			t.Fatalf("webhook %s: %v", hook, err)
		}
	}
	// Changing it to an internal address afterwards is refused too.
	up := ok.DeepCopy()
	up.Spec.Webhook = "http://10.0.0.1/"
	refused(t, tina.Patch(ctx, up, client.MergeFrom(ok)), "tweezer-webhook-target", "10.0.0.1 is a loopback, private")
}

// A member reads the project's webhook signing secret, and no other Secret;
// a member of another project does not read it.
func TestMemberReadsWebhookSigningSecret(t *testing.T) {
	tok := tenants(t)
	ctx := context.Background()
	for _, name := range []string{"tweezer-webhook-signing", "not-yours"} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tenantA}, StringData: map[string]string{"secret": "whsec_x"}}
		if err := admin.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), s) })
	}
	var s corev1.Secret
	if err := kubeAs(t, tok["tina"]).Get(ctx, client.ObjectKey{Namespace: tenantA, Name: "tweezer-webhook-signing"}, &s); err != nil || string(s.Data["secret"]) != "whsec_x" {
		t.Fatalf("tina reads her project's signing secret: %v %q", err, s.Data["secret"])
	}
	if err := kubeAs(t, tok["tina"]).Get(ctx, client.ObjectKey{Namespace: tenantA, Name: "not-yours"}, &s); !apierrors.IsForbidden(err) {
		t.Errorf("tina reads another Secret: %v", err)
	}
	if err := kubeAs(t, tok["tess"]).Get(ctx, client.ObjectKey{Namespace: tenantA, Name: "tweezer-webhook-signing"}, &s); !apierrors.IsForbidden(err) {
		t.Errorf("tess reads another project's signing secret: %v", err)
	}
}

// Only a workload's owner cancels it, even straight through the kube API.
func TestAdmissionWorkloadCancelByOwnerOnly(t *testing.T) {
	tok := tenants(t)
	ctx := context.Background()
	tina, tom := kubeAs(t, tok["tina"]), kubeAs(t, tok["tom"])
	w := &quantumv1alpha1.Workload{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "direct-", Namespace: tenantA},
		Spec: quantumv1alpha1.WorkloadSpec{
			WorkloadType: "qadence_circuit", Backend: quantumv1alpha1.BackendPulserBasic,
			Config: &apiextensionsv1.JSON{Raw: []byte(`{"runs": 1}`)},
		},
	}
	if err := tina.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	if w.Spec.UserID != userID("tina") {
		t.Fatalf("owner %q, want tina", w.Spec.UserID)
	}
	cancel := w.DeepCopy()
	cancel.Spec.Canceled = true
	refused(t, tom.Patch(ctx, cancel, client.MergeFrom(w)), "tweezer-workload-cancel", "only the owner of workload "+w.Name)
	if err := tina.Patch(ctx, cancel, client.MergeFrom(w)); err != nil {
		t.Fatalf("the owner's cancel: %v", err)
	}
}

// A member cannot approve their own use case or make it an example shown to
// every user; a reviewer (tweezer-superuser) can.
func TestAdmissionUseCaseByRole(t *testing.T) {
	tok := tenants(t)
	ctx := context.Background()
	tina, reviewer := kubeAs(t, tok["tina"]), kubeAs(t, tokens["super"])
	newUC := func(st quantumv1alpha1.ValidationStatus, example bool) *quantumv1alpha1.UseCase {
		return &quantumv1alpha1.UseCase{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "direct-", Namespace: tenantA},
			Spec:       quantumv1alpha1.UseCaseSpec{Title: "mine", ValidationStatus: st, Example: example},
		}
	}
	refused(t, tina.Create(ctx, newUC(quantumv1alpha1.ValidationApproved, false)), "tweezer-use-case-review", "starts in DRAFT or UNDER_REVIEW, not APPROVED")
	refused(t, tina.Create(ctx, newUC(quantumv1alpha1.ValidationDraft, true)), "tweezer-use-case-review", "only a reviewer marks a use case as an example")

	u := newUC(quantumv1alpha1.ValidationDraft, false)
	if err := tina.Create(ctx, u); err != nil {
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
	refused(t, move(tina, quantumv1alpha1.ValidationDraft, true), "tweezer-use-case-review", "only a reviewer marks")
	if err := move(tina, quantumv1alpha1.ValidationUnderReview, false); err != nil {
		t.Fatalf("the author submits: %v", err)
	}
	refused(t, move(tina, quantumv1alpha1.ValidationApproved, false), "tweezer-use-case-review", "only a reviewer may move a use case from UNDER_REVIEW to APPROVED")
	if err := move(reviewer, quantumv1alpha1.ValidationApproved, true); err != nil {
		t.Fatalf("the reviewer approves and makes it an example: %v", err)
	}
	refused(t, move(tina, quantumv1alpha1.ValidationApproved, false), "tweezer-use-case-review", "only a reviewer marks")
}

// The owner of what a member creates is the member, never what the body says.
func TestAdmissionOwnerIsTheCaller(t *testing.T) {
	tok := tenants(t)
	ctx := context.Background()
	tina := kubeAs(t, tok["tina"])
	b := directBatch(tenantA)
	b.Spec.UserID = userID("tom")
	refused(t, tina.Create(ctx, b), "tweezer-owner", "spec.userID: must be your own user name "+userID("tina")+", not "+userID("tom"))

	u := &quantumv1alpha1.UseCase{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "direct-", Namespace: tenantA},
		Spec:       quantumv1alpha1.UseCaseSpec{Title: "forged", UserID: userID("tom")},
	}
	refused(t, tina.Create(ctx, u), "tweezer-owner", "must be your own user name")

	// Taking over someone else's object later is refused as well.
	own := directBatch(tenantA)
	if err := tina.Create(ctx, own); err != nil {
		t.Fatal(err)
	}
	stolen := own.DeepCopy()
	stolen.Spec.UserID = userID("tom")
	refused(t, tina.Patch(ctx, stolen, client.MergeFrom(own)), "tweezer-owner", "the owner "+userID("tina")+" cannot be changed")

	// A job entry naming someone else is refused, at creation and when added.
	forged := directBatch(tenantA)
	forged.Spec.Jobs = []quantumv1alpha1.InlineJob{{Runs: 1, UserID: userID("tom")}}
	refused(t, tina.Create(ctx, forged), "tweezer-owner", "spec.jobs[].userID: a job you add must name you ("+userID("tina")+") or nobody")
	open := directBatch(tenantA)
	open.Spec.Open = true
	open.Spec.Jobs = []quantumv1alpha1.InlineJob{{Runs: 1}}
	if err := tina.Create(ctx, open); err != nil {
		t.Fatal(err)
	}
	added := open.DeepCopy()
	added.Spec.Jobs = append(added.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: 2, UserID: userID("tina")})
	if err := tina.Patch(ctx, added, client.MergeFrom(open)); err != nil {
		t.Fatalf("adding a job in one's own name: %v", err)
	}
	forgedAdd := added.DeepCopy()
	forgedAdd.Spec.Jobs = append(forgedAdd.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: 3, UserID: userID("tom")})
	refused(t, tina.Patch(ctx, forgedAdd, client.MergeFrom(added)), "tweezer-owner", "a job you add must name you")
}

// Only the platform says how many of a batch's jobs the facade charged to
// its project's write budget: a direct writer who could say it would pass
// the manager's job budget.
func TestAdmissionJobsChargedIsThePlatforms(t *testing.T) {
	tok := tenants(t)
	ctx := context.Background()
	tina := kubeAs(t, tok["tina"])
	const want = "metadata.annotations[quantum.tweezer.dev/jobs-charged]: only the platform sets who charged a batch's jobs"
	forged := directBatch(tenantA)
	forged.Annotations = map[string]string{quantumv1alpha1.JobsChargedAnnotation: "1000"}
	refused(t, tina.Create(ctx, forged), "tweezer-owner", want)

	// On a batch the facade charged, the count can be kept, not changed.
	paid := directBatch(tenantA)
	paid.Spec.UserID = userID("tina")
	paid.Annotations = map[string]string{quantumv1alpha1.JobsChargedAnnotation: "1"}
	if err := admin.Create(ctx, paid); err != nil {
		t.Fatal(err)
	}
	tagged := paid.DeepCopy()
	tagged.Spec.Tags = []string{"kept"}
	if err := tina.Patch(ctx, tagged, client.MergeFrom(paid)); err != nil {
		t.Fatalf("a change that keeps the count: %v", err)
	}
	raised := tagged.DeepCopy()
	raised.Annotations[quantumv1alpha1.JobsChargedAnnotation] = "1000"
	refused(t, tina.Patch(ctx, raised, client.MergeFrom(tagged)), "tweezer-owner", want)
}
