package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/devices"
	"github.com/tweezer-dev/tweezer/runners/qpu"
)

// installRunnerRoles applies config/rbac/runner_role.yaml, the ClusterRoles
// that the Pod executor binds for runners.
func installRunnerRoles() {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "config", "rbac", "runner_role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		role := &rbacv1.ClusterRole{}
		if err := dec.Decode(role); err != nil {
			break
		}
		if err := k8s.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
}

// serviceAccountKubeconfig writes a kubeconfig that acts as the service
// account, by impersonation from the suite's admin user, as a pod's token
// would.
func serviceAccountKubeconfig(ns, name string) string {
	GinkgoHelper()
	kc, err := clientcmd.LoadFromFile(runnerKube)
	Expect(err).NotTo(HaveOccurred())
	for _, user := range kc.AuthInfos {
		user.Impersonate = "system:serviceaccount:" + ns + ":" + name
		user.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
	return path
}

// gatewayWithTokenReview serves an emulated Fresnel QPU that authenticates
// runners as the local-mode gateway does: TokenReviews against the suite's
// API server, audience qpu.Audience, runner accounts only.
func gatewayWithTokenReview() (*qpu.Gateway, string) {
	GinkgoHelper()
	specs, ok := devices.Specs("FRESNEL")
	Expect(ok).To(BeTrue())
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	gw := &qpu.Gateway{Engine: fresnelEngine, Specs: specs, ShotTime: time.Millisecond,
		Auth: &qpu.TokenReviewer{Reviews: cs.AuthenticationV1().TokenReviews()}}
	gctx, cancel := context.WithCancel(ctx)
	DeferCleanup(cancel)
	gw.Start(gctx)
	srv := httptest.NewServer(gw)
	DeferCleanup(srv.Close)
	return gw, srv.URL
}

// saToken requests a token of a service account (creating the account) for an audience.
func saToken(ns, name, audience string) string {
	GinkgoHelper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := k8s.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}}}
	Expect(k8s.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
	return tr.Status.Token
}

// mayTouchLease asks the API server whether a service account may update a Lease.
func mayTouchLease(saNamespace, sa, leaseNamespace, lease string) bool {
	GinkgoHelper()
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + saNamespace + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + saNamespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: leaseNamespace, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: lease,
		},
	}}
	Expect(k8s.Create(ctx, review)).To(Succeed())
	return review.Status.Allowed
}

// noGatewaySecret checks that no Secret of the namespace holds a gateway token.
func noGatewaySecret(ns string, tokens ...string) {
	GinkgoHelper()
	secrets := &corev1.SecretList{}
	Expect(k8s.List(ctx, secrets, client.InNamespace(ns))).To(Succeed())
	for _, sec := range secrets.Items {
		Expect(sec.Labels).NotTo(HaveKeyWithValue(executor.ManagedByLabel, executor.ManagedBy), "secret %s", sec.Name)
		for _, v := range sec.Data {
			for _, t := range tokens {
				Expect(string(v)).NotTo(Equal(t), "secret %s holds a gateway token", sec.Name)
			}
		}
	}
}

var _ = Describe("A runner pod", func() {
	It("runs its batch under the namespace's runner account, which may touch only its own QPU Lease, with its own gateway token", func() {
		installRunnerRoles()
		startManager(&executor.Pod{LeaseNamespace: managerNamespace})
		ns, other := project(), project()

		By("a QPU gateway that authenticates runners by TokenReview")
		_, url := gatewayWithTokenReview()
		d := device(quantumv1alpha1.DeviceTypeFresnel, func(d *quantumv1alpha1.Device) {
			d.Spec.IsEmulator = false
			d.Spec.Gateway = &quantumv1alpha1.QPUGateway{URL: url}
			d.Spec.RunnerImage = "ghcr.io/tweezer-dev/tweezer:test"
		})
		qpuLeaseName := "tweezer-qpu-" + d.Name
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 20, 30)
		// Until the runner below runs, the spec keeps the QPU's Lease fresh,
		// so that the manager does not take the pod for a dead runner.
		stopRenewing := renewLease(managerNamespace, qpuLeaseName)
		defer stopRenewing()
		create(b)
		b = get(b)

		By("the pod gets a projected service-account token for the gateway's audience, and no Secret")
		var pod *corev1.Pod
		Eventually(func() bool {
			pods := &corev1.PodList{}
			Expect(k8s.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{quantumv1alpha1.BatchLabel: b.Name})).To(Succeed())
			if len(pods.Items) != 1 {
				return false
			}
			pod = &pods.Items[0]
			return true
		}).Should(BeTrue(), "one runner pod")
		c := pod.Spec.Containers[0]
		Expect(c.Args).To(ContainElements("--gateway-url", url, "--lease-namespace", managerNamespace,
			"--gateway-token-file", executor.GatewayTokenDir+"/token"))
		Expect(c.Env).To(BeEmpty(), "no token in the environment")
		Expect(pod.Spec.Volumes).To(HaveLen(1))
		proj := pod.Spec.Volumes[0].Projected
		Expect(proj).NotTo(BeNil())
		Expect(proj.Sources).To(HaveLen(1))
		Expect(proj.Sources[0].ServiceAccountToken).NotTo(BeNil())
		Expect(proj.Sources[0].ServiceAccountToken.Audience).To(Equal(qpu.Audience))
		Expect(c.VolumeMounts).To(ContainElement(HaveField("MountPath", executor.GatewayTokenDir)))
		noGatewaySecret(ns)

		By("the runner account may update its QPU's Lease, and no other Lease of the manager's namespace")
		saName := pod.Spec.ServiceAccountName
		Expect(mayTouchLease(ns, saName, managerNamespace, qpuLeaseName)).To(BeTrue(), "its own QPU Lease")
		Expect(mayTouchLease(ns, saName, managerNamespace, "tweezer-manager.quantum.tweezer.dev")).To(BeFalse(), "the leader-election Lease")
		Expect(mayTouchLease(ns, saName, managerNamespace, "tweezer-qpu-another-qpu")).To(BeFalse(), "another QPU's Lease")
		Expect(mayTouchLease(ns, saName, other, b.Name)).To(BeFalse(), "another project's batch Lease")

		By("playing the kubelet: the real runner, as the pod's service account, with the projected token")
		kubeconfig := serviceAccountKubeconfig(ns, saName)
		tokenFile := filepath.Join(GinkgoT().TempDir(), "token")
		token := saToken(ns, saName, proj.Sources[0].ServiceAccountToken.Audience)
		Expect(os.WriteFile(tokenFile, []byte(token), 0o600)).To(Succeed())
		args := append([]string{}, c.Args...)
		for i := range args {
			if args[i] == "--gateway-token-file" {
				args[i+1] = tokenFile
			}
		}
		rctx, stop := context.WithTimeout(ctx, 2*time.Minute)
		defer stop()
		run := exec.CommandContext(rctx, runnerBin, append(args, "--kubeconfig", kubeconfig)...)
		run.Stdout, run.Stderr = GinkgoWriter, GinkgoWriter
		setPodPhase(pod, corev1.PodRunning, nil)
		stopRenewing()
		Expect(run.Run()).To(Succeed(), "the runner completes its batch with only its account's rights")
		// The kubelet reports the exit, unless the manager, seeing the batch
		// DONE, has already removed the pod.
		Eventually(func() error {
			cur := &corev1.Pod{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), cur); err != nil {
				return client.IgnoreNotFound(err)
			}
			cur.Status.Phase = corev1.PodSucceeded
			return client.IgnoreNotFound(k8s.Status().Update(ctx, cur))
		}).Should(Succeed())
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		for i, j := range jobsOf(b) {
			Expect(j.Status.Phase).To(Equal(quantumv1alpha1.JobDone))
			Expect(total(j.Status.Counter)).To(Equal(int64(b.Spec.Jobs[i].Runs)), "the gateway ran it: the token was accepted")
		}
		noGatewaySecret(ns, token)

		By("once the batch has ended, its runners lose the QPU's Lease")
		Eventually(func() bool { return mayTouchLease(ns, saName, managerNamespace, qpuLeaseName) }).Should(BeFalse())
		roles := &rbacv1.RoleList{}
		Expect(k8s.List(ctx, roles, client.InNamespace(managerNamespace),
			client.MatchingLabels{executor.LeaseAccessLabel: executor.LeaseAccessKey(ns, b.Name)})).To(Succeed())
		Expect(roles.Items).To(BeEmpty())
		bindings := &rbacv1.RoleBindingList{}
		Expect(k8s.List(ctx, bindings, client.InNamespace(managerNamespace),
			client.MatchingLabels{executor.LeaseAccessLabel: executor.LeaseAccessKey(ns, b.Name)})).To(Succeed())
		Expect(bindings.Items).To(BeEmpty())

		By("the account may do nothing else")
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		sa, err := client.New(cfg, client.Options{Scheme: controlplane.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		job := jobsOf(b)[0]
		Expect(sa.Get(ctx, client.ObjectKeyFromObject(&job), &quantumv1alpha1.Job{})).To(Succeed())
		Expect(sa.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "result-" + ns[:8]}})).To(Succeed())
		forbidden := func(err error) {
			GinkgoHelper()
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
		}
		cur := get(b)
		cur.Spec.Tags = []string{"mine"}
		forbidden(sa.Update(ctx, cur))
		cur = get(b)
		cur.Status.Phase = quantumv1alpha1.BatchError
		forbidden(sa.Status().Update(ctx, cur))
		forbidden(sa.Delete(ctx, &job))
		forbidden(sa.Get(ctx, client.ObjectKey{Namespace: ns, Name: "any-secret"}, &corev1.Secret{}))
		forbidden(sa.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mine"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}))
		forbidden(sa.List(ctx, &quantumv1alpha1.JobList{}, client.InNamespace(other)))
		otherBatch := batch(other, quantumv1alpha1.DeviceTypeEmuMPS, 10)
		create(otherBatch)
		var otherJob quantumv1alpha1.Job
		Eventually(func() int { return len(jobsOf(otherBatch)) }).Should(Equal(1))
		otherJob = jobsOf(otherBatch)[0]
		otherJob.Status.Phase = quantumv1alpha1.JobDone
		forbidden(sa.Status().Update(ctx, &otherJob))
		forbidden(sa.Create(ctx, &quantumv1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "mine-" + ns[:8]},
			Spec: quantumv1alpha1.DeviceSpec{DeviceType: quantumv1alpha1.DeviceTypeEmuFree}}))
	})
})

var _ = Describe("A QPU runner's Lease access", func() {
	It("goes when its batch is deleted mid-run", func() {
		installRunnerRoles()
		startManager(&executor.Pod{LeaseNamespace: managerNamespace})
		ns := project()
		d := qpuDevice(time.Millisecond, func(d *quantumv1alpha1.Device) { d.Spec.RunnerImage = "ghcr.io/tweezer-dev/tweezer:test" })
		stopRenewing := renewLease(managerNamespace, "tweezer-qpu-"+d.Name)
		defer stopRenewing()
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 20)
		create(b)
		access := client.MatchingLabels{executor.LeaseAccessLabel: executor.LeaseAccessKey(ns, b.Name)}
		bindings := func() []rbacv1.RoleBinding {
			l := &rbacv1.RoleBindingList{}
			Expect(k8s.List(ctx, l, client.InNamespace(managerNamespace), access)).To(Succeed())
			return l.Items
		}
		Eventually(bindings).Should(HaveLen(1))
		Expect(bindings()[0].Name).To(Equal(executor.LeaseAccessName(ns, b.Name, "tweezer-qpu-"+d.Name)))
		Expect(mayTouchLease(ns, executor.RunnerServiceAccount, managerNamespace, "tweezer-qpu-"+d.Name)).To(BeTrue())

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(bindings).Should(BeEmpty())
		roles := &rbacv1.RoleList{}
		Expect(k8s.List(ctx, roles, client.InNamespace(managerNamespace), access)).To(Succeed())
		Expect(roles.Items).To(BeEmpty())
		Expect(mayTouchLease(ns, executor.RunnerServiceAccount, managerNamespace, "tweezer-qpu-"+d.Name)).To(BeFalse())
	})
})

var _ = Describe("The QPU gateway", func() {
	It("runs a runner process's jobs on its own account's token, and scopes jobs to the account", func() {
		p := executor.NewProcess(runnerBin, runnerKube, GinkgoWriter)
		p.Client = k8s
		startManager(p)
		ns, other := project(), project()
		_, url := gatewayWithTokenReview()
		device(quantumv1alpha1.DeviceTypeFresnel, func(d *quantumv1alpha1.Device) {
			d.Spec.IsEmulator = false
			d.Spec.Gateway = &quantumv1alpha1.QPUGateway{URL: url}
		})

		By("a QPU batch runs with a token the executor requested for the project's runner account")
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 20)
		create(b)
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		Expect(total(jobsOf(b)[0].Status.Counter)).To(Equal(int64(20)))
		noGatewaySecret(ns)

		By("a job submitted by one project's runner is invisible to another's")
		mine := &qpu.HTTPDriver{URL: url, Token: saToken(ns, qpu.RunnerServiceAccount, qpu.Audience)}
		theirs := &qpu.HTTPDriver{URL: url, Token: saToken(other, qpu.RunnerServiceAccount, qpu.Audience)}
		st := gatewayCall(mine, http.MethodPost, "/v1/jobs", `{"sequence":"{}","runs":100000}`, http.StatusCreated)
		Expect(st.ID).To(MatchRegexp("^[0-9a-f]{32}$"), "a random 128-bit id")
		gatewayCall(theirs, http.MethodGet, "/v1/jobs/"+st.ID, "", http.StatusNotFound)
		gatewayCall(theirs, http.MethodDelete, "/v1/jobs/"+st.ID, "", http.StatusNotFound)
		Expect(gatewayCall(mine, http.MethodGet, "/v1/jobs/"+st.ID, "", http.StatusOK).Status).NotTo(Equal(qpu.StatusCanceled))

		By("tokens for another audience, of another account, or none are refused")
		for _, token := range []string{
			saToken(ns, qpu.RunnerServiceAccount, "https://kubernetes.default.svc"),
			saToken(ns, "default", qpu.Audience),
			"",
		} {
			gatewayCall(&qpu.HTTPDriver{URL: url, Token: token}, http.MethodGet, "/v1/jobs/"+st.ID, "", http.StatusUnauthorized)
		}
		gatewayCall(mine, http.MethodDelete, "/v1/jobs/"+st.ID, "", http.StatusAccepted)
	})
})

// gatewayCall sends one request to the gateway with the driver's token and
// expects the status code.
func gatewayCall(d *qpu.HTTPDriver, method, path, body string, want int) qpu.JobState {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, method, d.URL+path, strings.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	if d.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(want), "%s %s: %s", method, path, data)
	var st qpu.JobState
	if want < 300 {
		Expect(json.Unmarshal(data, &st)).To(Succeed())
	}
	return st
}
