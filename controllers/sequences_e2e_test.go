package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/sequences"
)

var _ = Describe("A batch whose sequences live in a ConfigMap", func() {
	It("runs them, the batch's and a job's own, and its webhook carries the batch's", func() {
		hookURL, lastHook := webhookSink()
		startManager()
		ns := project()
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 40, 40)
		b.Spec.Webhook = hookURL
		b.Spec.SequenceBuilder = ""
		b.Spec.SequencesFrom = sequences.ConfigMapName(b.Name)
		create(b)
		// The batch's own ConfigMap, as the facade writes it; the device
		// comes after, so that nothing runs before the ConfigMap exists.
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: b.Spec.SequencesFrom},
			// Job 2 (index 1) runs its own 3-atom sequence, job 1 the batch's 4 atoms.
			Data: map[string]string{sequences.BatchKey: sequence(4), sequences.JobKey(1): sequence(3)},
		}
		sequences.Own(cm, b)
		create(cm)
		device(quantumv1alpha1.DeviceTypeEmuFree)
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))

		jobs := jobsOf(b)
		Expect(jobs).To(HaveLen(2))
		Expect(jobs[0].Spec.Sequence).To(BeEmpty(), "the controller copied no sequence into the Job")
		Expect(jobs[1].Spec.Sequence).To(BeEmpty(), "the controller copied no sequence into the Job")
		for k := range jobs[0].Status.Counter {
			Expect(k).To(HaveLen(4), "job 1 ran the batch's 4-atom sequence")
		}
		for k := range jobs[1].Status.Counter {
			Expect(k).To(HaveLen(3), "job 2 ran its own 3-atom sequence")
		}
		Eventually(func() any { return lastHook()["sequence_builder"] }).Should(Equal(sequence(4)))
	})

	It("fails its jobs with a message naming the field when the ConfigMap is missing or not the batch's own", func() {
		startManager()
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuFree)
		// Another ConfigMap of the project, which the batch does not own.
		create(&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone-elses"},
			Data:       map[string]string{sequences.BatchKey: sequence(4)},
		})
		for name, why := range map[string]string{"nowhere": `configmaps "nowhere" not found`, "someone-elses": "not owned by the batch"} {
			b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 10)
			b.Spec.SequenceBuilder = ""
			b.Spec.SequencesFrom = name
			create(b)
			Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchError))
			jobs := jobsOf(b)
			Expect(jobs).To(HaveLen(1))
			Expect(jobs[0].Status.Phase).To(Equal(quantumv1alpha1.JobError))
			Expect(jobs[0].Status.Errors).To(ContainElement(SatisfyAll(ContainSubstring("spec.sequencesFrom"), ContainSubstring(why))))
		}
	})
})
