package controllers_test

import (
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/hack/testenv"
)

// apiOutage is how long kube-apiserver stays stopped; its restart comes on top.
const apiOutage = 30 * time.Second

// outageLease is the runners' lease in the outage spec. At the default
// (runnerspec.DefaultLeaseDuration, 60 s) a runner rides out about 39 s
// without the API server (runners/batchrunner's TestLeaseKeeperRidesOutAnOutage),
// but on a loaded machine the restart alone took 30 s: the spec gives the
// runners room for any restart, and still fails if a write is not retried
// or a runner is replaced.
const outageLease = 3 * time.Minute

var _ = Describe("A kube-apiserver outage", func() {
	// The spec runs on a control plane of its own (its kube-apiserver is
	// stopped) with a manager at the production lease settings. Two QPU
	// batches run on two devices: in one, a job is RUNNING when the API
	// server stops and ends while it is down (its runner must hold the
	// result until it can write it); in the other, a job runs through the
	// whole outage. Every job must end DONE in its first attempt, no job
	// may be created twice, and no runner may be replaced.
	It("of 30 s in the middle of batches loses no attempt, duplicates no job and keeps each runner's Lease", func() {
		began := time.Now()
		cp, err := testenv.StartRestartable()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cp.Stop)
		c := cp.Client

		user, err := cp.Env.AddUser(envtest.User{Name: "runner", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		kc, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		kubeconfig := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(kubeconfig, kc, 0o600)).To(Succeed())

		ns := uuid.NewString()
		Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}})).To(Succeed())
		Expect(c.Create(ctx, testenv.ProjectNamespace(ns))).To(Succeed())
		qpu := func() *quantumv1alpha1.Device {
			d := &quantumv1alpha1.Device{
				ObjectMeta: metav1.ObjectMeta{Name: "fresnel-" + uuid.NewString()[:8]},
				Spec: quantumv1alpha1.DeviceSpec{
					DeviceType: quantumv1alpha1.DeviceTypeFresnel, Availability: quantumv1alpha1.DeviceUp,
					Concurrency: 1, Gateway: &quantumv1alpha1.QPUGateway{URL: gateway(shot)},
				},
			}
			Expect(c.Create(ctx, d)).To(Succeed())
			return d
		}
		ends, spans := qpu(), qpu()

		// The manager at the defaults a cluster runs with, but for the lease.
		runManager(cp.Config, controllers.Config{
			Options:  controllers.Options{Namespace: managerNamespace, LeaseDuration: outageLease},
			Executor: executor.NewProcess(runnerBin, kubeconfig, GinkgoWriter),
		})

		// runs × shot: 1 s, 20 s, 1 s; and 50 s.
		endsBatch := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 50, 1000, 50)
		spansBatch := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 2500)
		Expect(c.Create(ctx, endsBatch)).To(Succeed())
		Expect(c.Create(ctx, spansBatch)).To(Succeed())

		jobs := func(b *quantumv1alpha1.Batch) []quantumv1alpha1.Job {
			GinkgoHelper()
			list := &quantumv1alpha1.JobList{}
			Expect(c.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{quantumv1alpha1.BatchLabel: b.Name})).To(Succeed())
			sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Spec.CreationOrder < list.Items[j].Spec.CreationOrder })
			return list.Items
		}
		running := func(b *quantumv1alpha1.Batch, i int) func() bool {
			return func() bool {
				js := jobs(b)
				return len(js) > i && js[i].Status.Phase == quantumv1alpha1.JobRunning
			}
		}
		qpuLease := func(d *quantumv1alpha1.Device) *coordinationv1.Lease {
			GinkgoHelper()
			l := &coordinationv1.Lease{}
			Expect(c.Get(ctx, client.ObjectKey{Namespace: managerNamespace, Name: "tweezer-qpu-" + d.Name}, l)).To(Succeed())
			return l
		}
		Eventually(running(endsBatch, 1)).Should(BeTrue(), "the 20 s job of the first batch runs")
		Eventually(running(spansBatch, 0)).Should(BeTrue(), "the 50 s job of the second batch runs")
		before := map[string]*coordinationv1.Lease{ends.Name: qpuLease(ends), spans.Name: qpuLease(spans)}
		attempts := map[string]int32{}
		for _, b := range []*quantumv1alpha1.Batch{endsBatch, spansBatch} {
			for _, j := range jobs(b) {
				attempts[j.Name] = j.Status.Attempts
			}
		}
		Expect(attempts).To(HaveKeyWithValue(jobs(endsBatch)[1].Name, int32(1)))
		Expect(attempts).To(HaveKeyWithValue(jobs(spansBatch)[0].Name, int32(1)))

		By("stopping kube-apiserver for 30 s")
		down := time.Now()
		Expect(cp.StopAPIServer()).To(Succeed())
		stopped := time.Now()
		Expect(c.Get(ctx, client.ObjectKeyFromObject(endsBatch), &quantumv1alpha1.Batch{})).NotTo(Succeed(), "the API server is down")
		time.Sleep(apiOutage) // the outage itself: nothing to wait for
		restart := time.Now()
		Expect(cp.StartAPIServer()).To(Succeed())
		outage := time.Since(down)
		GinkgoWriter.Printf("kube-apiserver unavailable for %s: stop %s, down %s, restart %s\n", outage.Round(time.Millisecond),
			stopped.Sub(down).Round(time.Millisecond), apiOutage, time.Since(restart).Round(time.Millisecond))
		Expect(outage).To(BeNumerically("<", outageLease/2), "the outage stays well within what the runners ride out")

		By("waiting for both batches to finish")
		for _, b := range []*quantumv1alpha1.Batch{endsBatch, spansBatch} {
			Eventually(func() quantumv1alpha1.BatchStatus {
				cur := &quantumv1alpha1.Batch{}
				if err := c.Get(ctx, client.ObjectKeyFromObject(b), cur); err != nil {
					return ""
				}
				return cur.Status.Phase
			}, 2*time.Minute).Should(Equal(quantumv1alpha1.BatchDone), "batch %s", b.Name)
		}

		for _, b := range []*quantumv1alpha1.Batch{endsBatch, spansBatch} {
			js := jobs(b)
			for i, j := range js {
				GinkgoWriter.Printf("batch %s job %d: attempts %d before the outage, %d after, %s\n", b.Name, i, attempts[j.Name], j.Status.Attempts, j.Status.Phase)
			}
			Expect(js).To(HaveLen(len(b.Spec.Jobs)), "one Job per inline job of batch %s", b.Name)
			for i, j := range js {
				Expect(j.Spec.CreationOrder).To(BeEquivalentTo(i+1), "creation orders 1..n, none twice")
				Expect(j.Status.Phase).To(Equal(quantumv1alpha1.JobDone), "job %d of batch %s", i, b.Name)
				Expect(j.Status.Attempts).To(BeEquivalentTo(1), "job %d of batch %s ran once", i, b.Name)
				if a, ok := attempts[j.Name]; ok && a > 0 {
					Expect(j.Status.Attempts).To(Equal(a), "job %d of batch %s kept its attempt", i, b.Name)
				}
				Expect(total(j.Status.Counter)).To(BeEquivalentTo(b.Spec.Jobs[i].Runs), "job %d of batch %s has all its shots", i, b.Name)
			}
		}
		all := &quantumv1alpha1.JobList{}
		Expect(c.List(ctx, all, client.InNamespace(ns))).To(Succeed())
		Expect(all.Items).To(HaveLen(len(endsBatch.Spec.Jobs)+len(spansBatch.Spec.Jobs)), "no stray Job")

		By("checking that each QPU kept the runner it had: no takeover, no new generation")
		for _, d := range []*quantumv1alpha1.Device{ends, spans} {
			// The finished batch gave the QPU back (no holder) or its runner
			// still holds it; any other runner would have a new generation.
			after := qpuLease(d)
			Expect(holder(after)).To(BeElementOf("", holder(before[d.Name])), "QPU %s", d.Name)
			Expect(after.Spec.LeaseTransitions).To(Equal(before[d.Name].Spec.LeaseTransitions), "QPU %s", d.Name)
		}
		events := &eventsv1.EventList{}
		Expect(c.List(ctx, events, client.InNamespace(ns))).To(Succeed())
		for _, e := range events.Items {
			Expect(e.Reason).NotTo(BeElementOf("RunnerDied", "JobRetried", "JobFailed"), "event %s: %s", e.Reason, e.Note)
		}
		GinkgoWriter.Printf("outage spec took %s\n", time.Since(began).Round(time.Millisecond))
	})
})
