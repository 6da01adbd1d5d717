package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/slimcache"
)

var _ = Describe("The manager's cache", func() {
	It("holds no sequence, while the sequences reach the jobs, the runner and the webhook", func() {
		hookURL, lastHook := webhookSink()
		m := startManager()
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuFree)
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 40, 40)
		b.Spec.Webhook = hookURL
		own := sequence(3) // job 2 runs its own 3-atom sequence, job 1 the batch's 4 atoms
		b.Spec.Jobs[1].Sequence = own
		create(b)
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))

		By("the API server keeps every sequence, and each job got its own")
		full := get(b)
		Expect(full.Spec.SequenceBuilder).To(Equal(sequence(4)))
		Expect(full.Spec.Jobs[1].Sequence).To(Equal(own))
		jobs := jobsOf(b)
		Expect(jobs).To(HaveLen(2))
		Expect(jobs[0].Spec.Sequence).To(BeEmpty())
		Expect(jobs[1].Spec.Sequence).To(Equal(own))
		for k := range jobs[0].Status.Counter {
			Expect(k).To(HaveLen(4), "job 1 ran the batch's 4-atom sequence")
		}
		for k := range jobs[1].Status.Counter {
			Expect(k).To(HaveLen(3), "job 2 ran its own 3-atom sequence")
		}

		By("the manager's cache holds neither the batch's sequences nor the job's")
		cached := &quantumv1alpha1.Batch{}
		Expect(m.cache.Get(ctx, client.ObjectKeyFromObject(b), cached)).To(Succeed())
		Expect(cached.Spec.SequenceBuilder).To(BeEmpty())
		Expect(cached.Spec.Jobs).To(HaveLen(2))
		Expect(cached.Spec.Jobs[1].Sequence).To(BeEmpty())
		Expect(cached.ManagedFields).To(BeEmpty())
		Expect(slimcache.Trimmed(cached)).To(BeTrue())
		var cachedJobs quantumv1alpha1.JobList
		Expect(m.cache.List(ctx, &cachedJobs, client.InNamespace(ns))).To(Succeed())
		Expect(cachedJobs.Items).To(HaveLen(2))
		for _, j := range cachedJobs.Items {
			Expect(j.Spec.Sequence).To(BeEmpty())
			Expect(j.Status.Raw).To(BeNil())
		}

		By("the webhook's payload carries the sequence")
		Eventually(func() any { return lastHook()["sequence_builder"] }).Should(Equal(sequence(4)))

		By("an Update of a trimmed object through the manager's client is refused")
		cached.Spec.Tags = []string{"x"}
		err := slimcache.Guard(k8s).Update(ctx, cached)
		Expect(err).To(MatchError(ContainSubstring("trimmed cache")))
		Expect(get(b).Spec.SequenceBuilder).To(Equal(sequence(4)))
	})
})
