package controllers_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
)

var _ = Describe("The Pod executor", func() {
	It("starts a runner Pod from the device's image under the namespace's runner account and reacts to its phases", func() {
		startManager(&executor.Pod{LeaseNamespace: managerNamespace})
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuC, func(d *quantumv1alpha1.Device) {
			d.Spec.RunnerImage = "ghcr.io/tweezer-dev/tweezer:test"
			d.Spec.Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			}
		})
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuC, 10)
		create(b)
		b = get(b)
		// No kubelet runs here: the spec plays the runner by renewing its Lease.
		stopRenewing := renewLease(ns, b.Name)
		defer stopRenewing()

		pod := runnerPod(b, 1)
		Expect(pod.Spec.ServiceAccountName).To(Equal("tweezer-runner"))
		Expect(pod.Spec.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
		Expect(pod.Spec.Containers).To(HaveLen(1))
		c := pod.Spec.Containers[0]
		Expect(c.Image).To(Equal("ghcr.io/tweezer-dev/tweezer:test"))
		Expect(c.Args).To(Equal([]string{"batch", "--namespace", ns, "--name", b.Name,
			"--runner-id", ns + "/" + b.Name + "#1", "--lease-namespace", ns, "--lease-name", b.Name,
			"--lease-duration", leaseDuration.String()}))
		Expect(c.Resources.Limits.Cpu().String()).To(Equal("2"))
		Expect(c.Resources.Limits.Memory().String()).To(Equal("4Gi"))
		Expect(c.Resources.Requests.Cpu().String()).To(Equal("500m"))
		Expect(*c.SecurityContext.RunAsNonRoot).To(BeTrue())
		owner := metav1.GetControllerOf(pod)
		Expect(owner).NotTo(BeNil())
		Expect(owner.Kind).To(Equal("Batch"))
		Expect(owner.UID).To(Equal(b.UID))
		Expect(pod.Labels).To(HaveKeyWithValue(quantumv1alpha1.BatchLabel, b.Name))

		sa := &corev1.ServiceAccount{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tweezer-runner"}, sa)).To(Succeed())
		rb := &rbacv1.RoleBinding{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tweezer-runner"}, rb)).To(Succeed())
		Expect(rb.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tweezer-runner"}))
		Expect(rb.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Namespace: ns, Name: "tweezer-runner"}))

		By("a Running pod is a live runner")
		setPodPhase(pod, corev1.PodRunning, nil)
		Consistently(phaseOf(b), "1s").Should(Equal(quantumv1alpha1.BatchRunning))
		Expect(condition(b, quantumv1alpha1.ConditionRunner).Status).To(Equal(metav1.ConditionTrue))

		By("a Failed pod is a dead runner: a new pod starts")
		setPodPhase(pod, corev1.PodFailed, &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"})
		pod2 := runnerPod(b, 2)
		Eventually(func() []string { return eventReasons(ns, b.Name) }).Should(ContainElement("RunnerDied"))
		Eventually(func() string { return condition(b, quantumv1alpha1.ConditionRunner).Message }).Should(HavePrefix("runner 2 "))

		By("a deleted pod while a job runs: the job is retried in a new pod")
		j := jobsOf(b)[0]
		setJobRunning(&j, 1)
		Expect(k8s.Delete(ctx, pod2)).To(Succeed())
		pod3 := runnerPod(b, 3)
		Eventually(jobPhases(b)).Should(Equal([]quantumv1alpha1.JobStatus{quantumv1alpha1.JobPending}))

		By("a Failed pod after the job's last attempt: the job and the batch are ERROR with the reason")
		setJobRunning(&j, 2)
		setPodPhase(pod3, corev1.PodFailed, &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "engine crashed"})
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchError))
		j = jobsOf(b)[0]
		Expect(j.Status.Phase).To(Equal(quantumv1alpha1.JobError))
		Expect(j.Status.Errors).To(ContainElement(And(ContainSubstring("failed"), ContainSubstring("engine crashed"))))
	})
})

// runnerPod waits for the runner pod of a generation.
func runnerPod(b *quantumv1alpha1.Batch, gen int) *corev1.Pod {
	GinkgoHelper()
	pod := &corev1.Pod{}
	name := executor.PodName(executor.Runner{Spec: runnerspec.Spec{Name: b.Name}, Generation: gen})
	Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: name}, pod)
	}).Should(Succeed(), "pod %s", name)
	return pod
}

func setPodPhase(pod *corev1.Pod, phase corev1.PodPhase, term *corev1.ContainerStateTerminated) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &corev1.Pod{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), cur); err != nil {
			return err
		}
		cur.Status.Phase = phase
		if term != nil {
			cur.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", Image: cur.Spec.Containers[0].Image,
				State: corev1.ContainerState{Terminated: term}}}
		}
		return k8s.Status().Update(ctx, cur)
	}).Should(Succeed())
}

// setJobRunning plays a runner marking a job RUNNING in an attempt.
func setJobRunning(j *quantumv1alpha1.Job, attempt int32) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &quantumv1alpha1.Job{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(j), cur); err != nil {
			return err
		}
		now := metav1.Now()
		cur.Status.Phase, cur.Status.Attempts, cur.Status.StartTime = quantumv1alpha1.JobRunning, attempt, &now
		return k8s.Status().Update(ctx, cur)
	}).Should(Succeed())
}

// renewLease keeps a Lease fresh for whoever holds it, as a live runner would.
func renewLease(ns, name string) func() {
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rctx.Err() == nil {
			l := &coordinationv1.Lease{}
			if err := k8s.Get(rctx, client.ObjectKey{Namespace: ns, Name: name}, l); err == nil && l.Spec.HolderIdentity != nil {
				l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
				_ = k8s.Update(rctx, l)
			}
			select {
			case <-rctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }
}
