package controllers_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/devices"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
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

var _ = Describe("A runner pod", func() {
	It("runs its batch under the namespace's runner account, which may do nothing else, with the gateway token copied to it", func() {
		installRunnerRoles()
		startManager(&executor.Pod{LeaseNamespace: managerNamespace})
		ns, other := project(), project()

		By("a QPU gateway that wants a token, kept in a Secret of the manager's namespace")
		specs, ok := devices.Specs("FRESNEL")
		Expect(ok).To(BeTrue())
		gw := &qpu.Gateway{Engine: fresnelEngine, Specs: specs, ShotTime: time.Millisecond, Token: "s3cret-token"}
		gctx, cancel := context.WithCancel(ctx)
		DeferCleanup(cancel)
		gw.Start(gctx)
		srv := httptest.NewServer(gw)
		DeferCleanup(srv.Close)
		create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: managerNamespace, Name: "gw-" + ns[:8]},
			Data: map[string][]byte{"token": []byte("s3cret-token")}})
		d := device(quantumv1alpha1.DeviceTypeFresnel, func(d *quantumv1alpha1.Device) {
			d.Spec.IsEmulator = false
			d.Spec.Gateway = &quantumv1alpha1.QPUGateway{URL: srv.URL, CredentialsSecret: "gw-" + ns[:8]}
			d.Spec.RunnerImage = "ghcr.io/tweezer-dev/tweezer:test"
		})
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 20, 30)
		// Until the runner below runs, the spec keeps the QPU's Lease fresh,
		// so that the manager does not take the pod for a dead runner.
		stopRenewing := renewLease(managerNamespace, "tweezer-qpu-"+d.Name)
		defer stopRenewing()
		create(b)
		b = get(b)

		By("the pod takes the token from a Secret in its own namespace, owned by the batch")
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
		Expect(c.Args).To(ContainElements("--gateway-url", srv.URL, "--lease-namespace", managerNamespace))
		Expect(c.Env).To(HaveLen(1))
		Expect(c.Env[0].Name).To(Equal(runnerspec.TokenEnv))
		Expect(c.Env[0].Value).To(BeEmpty(), "the token is not in the pod spec")
		ref := c.Env[0].ValueFrom.SecretKeyRef
		Expect(ref).NotTo(BeNil())
		sec := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, sec)).To(Succeed())
		Expect(string(sec.Data[ref.Key])).To(Equal("s3cret-token"))
		Expect(metav1.GetControllerOf(sec)).NotTo(BeNil())
		Expect(metav1.GetControllerOf(sec).UID).To(Equal(b.UID), "deleting the batch deletes the token copy")

		By("playing the kubelet: the real runner, as the pod's service account, with the token from the Secret")
		kubeconfig := serviceAccountKubeconfig(ns, pod.Spec.ServiceAccountName)
		rctx, stop := context.WithTimeout(ctx, 2*time.Minute)
		defer stop()
		run := exec.CommandContext(rctx, runnerBin, append(append([]string{}, c.Args...), "--kubeconfig", kubeconfig)...)
		run.Env = append(os.Environ(), runnerspec.TokenEnv+"="+string(sec.Data[ref.Key]))
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
		forbidden(sa.Get(ctx, client.ObjectKeyFromObject(sec), &corev1.Secret{}))
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
