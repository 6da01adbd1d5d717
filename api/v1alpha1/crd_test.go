package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

const sequence = `{"version":"1","name":"s","register":[{"name":"q0","x":0,"y":0}],"device":"MockDevice",` +
	`"channels":{"ryd":"rydberg_global"},"variables":{},"operations":[],"measurement":"ground-rydberg"}`

func newNamespace() string {
	ns := testenv.ProjectNamespace("p-" + rand.String(8))
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func validBatch(ns string) *v1.Batch {
	return &v1.Batch{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b-" + rand.String(8)},
		Spec: v1.BatchSpec{
			SequenceBuilder: sequence,
			DeviceType:      v1.DeviceTypeEmuFree,
			Open:            true,
			Tags:            []string{"a", "b"},
			Jobs:            []v1.InlineJob{{Runs: 10, Variables: &apiextensionsv1.JSON{Raw: []byte(`{"t":[1]}`)}}},
		},
	}
}

func validJob(ns string) *v1.Job {
	return &v1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "j-" + rand.String(8)},
		Spec:       v1.JobSpec{BatchName: "some-batch", Runs: 5, CreationOrder: 1},
	}
}

// expectInvalid asserts that the API server refused err as Invalid, with a
// cause on the given field whose message contains want.
func expectInvalid(err error, field, want string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	status, ok := err.(apierrors.APIStatus)
	Expect(ok).To(BeTrue())
	var causes []string
	for _, c := range status.Status().Details.Causes {
		causes = append(causes, c.Field+": "+c.Message)
		if c.Field == field && strings.Contains(c.Message, want) {
			return
		}
	}
	Fail(fmt.Sprintf("no cause on field %q containing %q; causes: %v", field, want, causes))
}

var _ = Describe("Samples", func() {
	It("applies every sample in config/samples, as kubectl apply would", func() {
		ns := newNamespace()
		files, err := filepath.Glob(filepath.Join(controlplane.RepoRoot(), "config", "samples", "quantum_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(HaveLen(8), "a Batch and one Device per documented device type")

		seenTypes := map[string]bool{}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			obj := &unstructured.Unstructured{}
			Expect(utilyaml.Unmarshal(raw, &obj.Object)).To(Succeed(), f)
			if obj.GetKind() == "Batch" {
				obj.SetNamespace(ns)
			} else {
				seenTypes[obj.Object["spec"].(map[string]any)["deviceType"].(string)] = true
			}
			Expect(k8s.Patch(ctx, obj, client.Apply, client.FieldOwner("samples-test"))).To(Succeed(), f)
		}
		for _, dt := range v1.DeviceTypes {
			Expect(seenTypes).To(HaveKey(string(dt)))
		}

		batches := &v1.BatchList{}
		Expect(k8s.List(ctx, batches, client.InNamespace(ns))).To(Succeed())
		Expect(batches.Items).To(HaveLen(1))
		b := batches.Items[0]
		Expect(b.Spec.Jobs).To(HaveLen(2))
		Expect(b.Spec.QueuePriority).To(Equal(v1.QueuePriorityMedium))
		Expect(string(b.Spec.Configuration.Raw)).To(ContainSubstring(`"strict_validation":false`))

		fresnel := &v1.Device{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "fresnel"}, fresnel)).To(Succeed())
		Expect(fresnel.Spec.IsEmulator).To(BeFalse())
		Expect(fresnel.Spec.Gateway).NotTo(BeNil())
		Expect(fresnel.Spec.Resources.Limits.Memory().String()).To(Equal("4Gi"))
	})

	It("defaults what a minimal Batch and Device leave out", func() {
		ns := newNamespace()
		b := &v1.Batch{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "minimal"},
			Spec: v1.BatchSpec{SequenceBuilder: sequence}}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Expect(b.Spec.DeviceType).To(Equal(v1.DeviceTypeFresnel), "the API's default device type")
		Expect(b.Spec.QueuePriority).To(Equal(v1.QueuePriorityMedium))
		Expect(b.Spec.Open).To(BeFalse(), "a batch is closed unless asked otherwise")

		d := &v1.Device{ObjectMeta: metav1.ObjectMeta{Name: "minimal-" + rand.String(6)},
			Spec: v1.DeviceSpec{DeviceType: v1.DeviceTypeEmuSV}}
		Expect(k8s.Create(ctx, d)).To(Succeed())
		Expect(d.Spec.Availability).To(Equal(v1.DeviceUp))
		Expect(d.IsActive()).To(BeTrue())
		Expect(d.Spec.Concurrency).To(Equal(int32(1)))

		j := validJob(ns)
		Expect(k8s.Create(ctx, j)).To(Succeed())
		got := &v1.Job{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(j), got)).To(Succeed())
		Expect(got.Status.Phase).To(Equal(v1.JobPending), "a job nobody wrote a status for reads PENDING")
		Expect(got.Status.Attempts).To(BeZero())
	})
})

var _ = Describe("Validation", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	DescribeTable("refuses a bad Batch, naming the field",
		func(mutate func(*v1.Batch), field, want string) {
			b := validBatch(ns)
			mutate(b)
			expectInvalid(k8s.Create(ctx, b), field, want)
			err := k8s.Get(ctx, client.ObjectKeyFromObject(b), &v1.Batch{})
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nothing is stored")
		},
		Entry("a malformed device type", func(b *v1.Batch) { b.Spec.DeviceType = "emu-warp" },
			"spec.deviceType", `should match '^[A-Z][A-Z0-9_]*$'`),
		Entry("unknown queue priority", func(b *v1.Batch) { b.Spec.QueuePriority = "URGENT" },
			"spec.queuePriority", `Unsupported value: "URGENT"`),
		Entry("an inline job with runs = 0", func(b *v1.Batch) { b.Spec.Jobs[0].Runs = 0 },
			"spec.jobs[0].runs", "greater than or equal to 1"),
		Entry("duplicate tags", func(b *v1.Batch) { b.Spec.Tags = []string{"x", "y", "x"} },
			"spec.tags[2]", `Duplicate value: "x"`),
		Entry("an empty sequence", func(b *v1.Batch) { b.Spec.SequenceBuilder = "" },
			"spec.sequenceBuilder", "sequenceBuilder is required unless sequencesFrom is set or every inline job has its own sequence"),
		Entry("a sequence over the size limit", func(b *v1.Batch) {
			b.Spec.SequenceBuilder = strings.Repeat(" ", v1.MaxSequenceBytes+1)
		}, "spec.sequenceBuilder", "Too long"),
		Entry("a webhook that is not an http(s) URL", func(b *v1.Batch) { b.Spec.Webhook = "ftp://x" },
			"spec.webhook", "should match"),
	)

	It("takes a Batch's sequences from a ConfigMap it names, and keeps that name", func() {
		b := validBatch(ns)
		b.Spec.SequenceBuilder, b.Spec.SequencesFrom = "", "b-sequences"
		Expect(k8s.Create(ctx, b)).To(Succeed())
		for _, name := range []string{"other", ""} {
			changed := b.DeepCopy()
			changed.Spec.SequencesFrom = name
			expectInvalid(k8s.Update(ctx, changed), "spec.sequencesFrom", "sequencesFrom is immutable")
		}
	})

	It("keeps a Batch's sequence and device type immutable", func() {
		b := validBatch(ns)
		Expect(k8s.Create(ctx, b)).To(Succeed())

		changed := b.DeepCopy()
		changed.Spec.SequenceBuilder = sequence + " "
		expectInvalid(k8s.Update(ctx, changed), "spec.sequenceBuilder", "sequenceBuilder is immutable")

		changed = b.DeepCopy()
		changed.Spec.DeviceType = v1.DeviceTypeEmuSV
		expectInvalid(k8s.Update(ctx, changed), "spec.deviceType", "deviceType is immutable")

		changed = b.DeepCopy()
		changed.Spec.SequencesFrom = "elsewhere"
		expectInvalid(k8s.Update(ctx, changed), "spec.sequencesFrom", "sequencesFrom is immutable")

		stored := &v1.Batch{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), stored)).To(Succeed())
		Expect(stored.Spec.SequenceBuilder).To(Equal(sequence))
		Expect(stored.Spec.DeviceType).To(Equal(v1.DeviceTypeEmuFree))
	})

	It("keeps a Workload's configFrom immutable", func() {
		w := &v1.Workload{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "w-" + rand.String(8)},
			Spec: v1.WorkloadSpec{WorkloadType: "qadence_circuit", Backend: v1.BackendPulserBasic, ConfigFrom: "w-config"}}
		Expect(k8s.Create(ctx, w)).To(Succeed())
		for _, name := range []string{"other", ""} {
			changed := w.DeepCopy()
			changed.Spec.ConfigFrom = name
			expectInvalid(k8s.Update(ctx, changed), "spec.configFrom", "configFrom is immutable")
		}
		inline := &v1.Workload{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "w-" + rand.String(8)},
			Spec: v1.WorkloadSpec{WorkloadType: "qadence_circuit", Backend: v1.BackendPulserBasic, Config: &apiextensionsv1.JSON{Raw: []byte(`{}`)}}}
		Expect(k8s.Create(ctx, inline)).To(Succeed())
		inline.Spec.ConfigFrom = "later"
		expectInvalid(k8s.Update(ctx, inline), "spec.configFrom", "configFrom is immutable")
	})

	It("lets an open Batch close but never reopen", func() {
		b := validBatch(ns)
		Expect(k8s.Create(ctx, b)).To(Succeed())
		b.Spec.Open = false
		Expect(k8s.Update(ctx, b)).To(Succeed())
		b.Spec.Open = true
		expectInvalid(k8s.Update(ctx, b), "spec", "a closed batch cannot be reopened")
	})

	DescribeTable("refuses a bad Job, naming the field",
		func(mutate func(*v1.Job), field, want string) {
			j := validJob(ns)
			mutate(j)
			expectInvalid(k8s.Create(ctx, j), field, want)
		},
		Entry("runs = 0", func(j *v1.Job) { j.Spec.Runs = 0 }, "spec.runs", "greater than or equal to 1"),
		Entry("negative runs", func(j *v1.Job) { j.Spec.Runs = -3 }, "spec.runs", "greater than or equal to 1"),
		Entry("no batch", func(j *v1.Job) { j.Spec.BatchName = "" }, "spec.batchName", "at least 1 chars long"),
		Entry("creation order 0", func(j *v1.Job) { j.Spec.CreationOrder = 0 }, "spec.creationOrder", "greater than or equal to 1"),
	)

	It("keeps a Job's batch and runs immutable", func() {
		j := validJob(ns)
		Expect(k8s.Create(ctx, j)).To(Succeed())
		changed := j.DeepCopy()
		changed.Spec.BatchName = "other"
		expectInvalid(k8s.Update(ctx, changed), "spec.batchName", "batchName is immutable")
		changed = j.DeepCopy()
		changed.Spec.Runs = 6
		expectInvalid(k8s.Update(ctx, changed), "spec.runs", "runs is immutable")
	})

	It("refuses Job progress outside 0..100 and unknown phases on the status subresource", func() {
		j := validJob(ns)
		Expect(k8s.Create(ctx, j)).To(Succeed())

		j.Status.Phase = v1.JobRunning
		j.Status.Progress = 101
		expectInvalid(k8s.Status().Update(ctx, j), "status.progress", "less than or equal to 100")

		j.Status.Progress = 50
		j.Status.Phase = "SLEEPING"
		expectInvalid(k8s.Status().Update(ctx, j), "status.phase", `Unsupported value: "SLEEPING"`)

		j.Status.Phase = v1.JobRunning
		Expect(k8s.Status().Update(ctx, j)).To(Succeed())
		Expect(j.Status.Progress).To(Equal(int32(50)))
	})

	It("keeps a Job's terminal phase terminal on the status subresource, even for a blind merge patch", func() {
		for _, final := range []v1.JobStatus{v1.JobDone, v1.JobError, v1.JobCanceled} {
			j := validJob(ns)
			Expect(k8s.Create(ctx, j)).To(Succeed())
			j.Status.Phase = final
			Expect(k8s.Status().Update(ctx, j)).To(Succeed())
			// The same phase again (a repeated report) is fine.
			Expect(k8s.Status().Update(ctx, j)).To(Succeed())
			for _, next := range v1.JobStatuses {
				if next == final {
					continue
				}
				patch := []byte(`{"status":{"phase":"` + string(next) + `"}}`)
				expectInvalid(k8s.Status().Patch(ctx, j, client.RawPatch(types.MergePatchType, patch)),
					"status", "a job in a terminal phase (DONE, ERROR, CANCELED) keeps it")
			}
			stored := &v1.Job{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(j), stored)).To(Succeed())
			Expect(stored.Status.Phase).To(Equal(final))
		}
	})

	It("lets an unfinished Job move freely (a retried job goes back to PENDING)", func() {
		j := validJob(ns)
		Expect(k8s.Create(ctx, j)).To(Succeed())
		for _, next := range []v1.JobStatus{v1.JobRunning, v1.JobPending, v1.JobRunning, v1.JobDone} {
			j.Status.Phase = next
			Expect(k8s.Status().Update(ctx, j)).To(Succeed(), "to %s", next)
		}
	})

	It("keeps a Batch's terminal phase terminal on the status subresource", func() {
		for _, final := range []v1.BatchStatus{v1.BatchDone, v1.BatchError, v1.BatchCanceled, v1.BatchTimedOut} {
			b := validBatch(ns)
			Expect(k8s.Create(ctx, b)).To(Succeed())
			b.Status.Phase = v1.BatchRunning
			Expect(k8s.Status().Update(ctx, b)).To(Succeed())
			b.Status.Phase = final
			Expect(k8s.Status().Update(ctx, b)).To(Succeed())
			// Conditions may still change (webhook delivery) while the phase stays.
			b.Status.DeviceID = "d"
			Expect(k8s.Status().Update(ctx, b)).To(Succeed())
			for _, next := range []v1.BatchStatus{v1.BatchPending, v1.BatchRunning, v1.BatchDone, v1.BatchCanceled, v1.BatchTimedOut, v1.BatchError, v1.BatchPaused} {
				if next == final {
					continue
				}
				patch := []byte(`{"status":{"phase":"` + string(next) + `"}}`)
				expectInvalid(k8s.Status().Patch(ctx, b, client.RawPatch(types.MergePatchType, patch)),
					"status", "a batch in a terminal phase (DONE, ERROR, CANCELED, TIMED_OUT) keeps it")
			}
		}
	})

	It("lets an open Batch gain jobs, never lose them, and a closed one neither", func() {
		b := validBatch(ns)
		Expect(k8s.Create(ctx, b)).To(Succeed())
		b.Spec.Jobs = append(b.Spec.Jobs, v1.InlineJob{Runs: 3, UserID: "u"})
		Expect(k8s.Update(ctx, b)).To(Succeed())
		shrunk := b.DeepCopy()
		shrunk.Spec.Jobs = shrunk.Spec.Jobs[:1]
		expectInvalid(k8s.Update(ctx, shrunk), "spec", "entries are never removed")
		b.Spec.Open = false
		Expect(k8s.Update(ctx, b)).To(Succeed())
		b.Spec.Jobs = append(b.Spec.Jobs, v1.InlineJob{Runs: 3})
		expectInvalid(k8s.Update(ctx, b), "spec", "only an open batch that is not canceled accepts more jobs")

		canceled := validBatch(ns)
		canceled.Spec.Canceled = true
		Expect(k8s.Create(ctx, canceled)).To(Succeed())
		canceled.Spec.Jobs = append(canceled.Spec.Jobs, v1.InlineJob{Runs: 3})
		expectInvalid(k8s.Update(ctx, canceled), "spec", "only an open batch that is not canceled accepts more jobs")
	})

	It("keeps a canceled Batch and Job canceled", func() {
		b := validBatch(ns)
		b.Spec.Canceled = true
		Expect(k8s.Create(ctx, b)).To(Succeed())
		b.Spec.Canceled = false
		expectInvalid(k8s.Update(ctx, b), "spec", "a canceled batch stays canceled")
		j := validJob(ns)
		j.Spec.Canceled = true
		Expect(k8s.Create(ctx, j)).To(Succeed())
		j.Spec.Canceled = false
		expectInvalid(k8s.Update(ctx, j), "spec", "a canceled job stays canceled")
	})

	It("ignores status in a spec write and spec in a status write (status subresource)", func() {
		j := validJob(ns)
		j.Status.Phase = v1.JobDone
		Expect(k8s.Create(ctx, j)).To(Succeed())
		Expect(j.Status.Phase).To(Equal(v1.JobPending), "status is not writable through the main resource: a new job reads PENDING")
	})

	It("takes a device type that is not among the documented ones", func() {
		d := &v1.Device{ObjectMeta: metav1.ObjectMeta{Name: "can1-" + rand.String(6)},
			Spec: v1.DeviceSpec{DeviceType: "FRESNEL_CAN1"}}
		Expect(k8s.Create(ctx, d)).To(Succeed())
		b := validBatch(ns)
		b.Spec.DeviceType = "FRESNEL_CAN1"
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Expect(b.Spec.DeviceType).To(Equal(v1.DeviceType("FRESNEL_CAN1")))
	})

	DescribeTable("refuses a bad Device, naming the field",
		func(mutate func(*v1.Device), field, want string) {
			d := &v1.Device{ObjectMeta: metav1.ObjectMeta{Name: "d-" + rand.String(8)},
				Spec: v1.DeviceSpec{DeviceType: v1.DeviceTypeEmuFree}}
			mutate(d)
			expectInvalid(k8s.Create(ctx, d), field, want)
		},
		Entry("a malformed device type", func(d *v1.Device) { d.Spec.DeviceType = "qpu x" }, "spec.deviceType", "should match"),
		Entry("a device type over 63 characters", func(d *v1.Device) { d.Spec.DeviceType = v1.DeviceType(strings.Repeat("Q", 64)) }, "spec.deviceType", "Too long"),
		Entry("unknown availability", func(d *v1.Device) { d.Spec.Availability = "SIDEWAYS" }, "spec.availability", "Unsupported value"),
		Entry("concurrency 0", func(d *v1.Device) { d.Spec.Concurrency = -1 }, "spec.concurrency", "greater than or equal to 1"),
		Entry("unknown result type", func(d *v1.Device) { d.Spec.AllowedResultTypes = []v1.ResultsType{"histogram"} },
			"spec.allowedResultTypes[0]", "Unsupported value"),
	)

	DescribeTable("refuses a bad Workload, naming the field",
		func(mutate func(*v1.Workload), field, want string) {
			w := &v1.Workload{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "w-" + rand.String(8)},
				Spec: v1.WorkloadSpec{WorkloadType: "qadence_circuit", Backend: v1.BackendPulserBasic,
					Config: &apiextensionsv1.JSON{Raw: []byte(`{}`)}}}
			mutate(w)
			expectInvalid(k8s.Create(ctx, w), field, want)
		},
		Entry("unknown workload type", func(w *v1.Workload) { w.Spec.WorkloadType = "chess" }, "spec.workloadType", "Unsupported value"),
		Entry("unknown backend", func(w *v1.Workload) { w.Spec.Backend = "abacus" }, "spec.backend", "Unsupported value"),
	)
})

var _ = Describe("kubectl experience", func() {
	It("serves short names and the tweezer category without taking plain 'jobs' from batch/v1", func() {
		_, lists, err := disco.ServerGroupsAndResources()
		Expect(err).NotTo(HaveOccurred())

		ours := map[string]metav1.APIResource{}
		builtinNames := map[string]string{}
		for _, l := range lists {
			gv, err := schema.ParseGroupVersion(l.GroupVersion)
			Expect(err).NotTo(HaveOccurred())
			for _, r := range l.APIResources {
				if gv.Group == v1.GroupVersion.Group {
					ours[r.Name] = r
					continue
				}
				builtinNames[r.Name] = l.GroupVersion
				builtinNames[r.SingularName] = l.GroupVersion
				for _, s := range r.ShortNames {
					builtinNames[s] = l.GroupVersion
				}
			}
		}
		for _, name := range []string{"batches", "jobs", "devices", "workloads", "learners", "usecases", "quizzes"} {
			Expect(ours).To(HaveKey(name))
			Expect(ours[name].Categories).To(ContainElement("tweezer"), name)
			Expect(ours[name].ShortNames).NotTo(BeEmpty(), name)
			for _, s := range ours[name].ShortNames {
				Expect(builtinNames).NotTo(HaveKey(s), "short name %q of %s clashes with a built-in", s, name)
			}
		}
		Expect(ours["devices"].Namespaced).To(BeFalse())
		for _, name := range []string{"batches", "jobs", "workloads", "learners", "usecases", "quizzes"} {
			Expect(ours[name].Namespaced).To(BeTrue(), name)
		}

		// The same resolution kubectl does: group priority plus short-name expansion.
		groups, err := restmapper.GetAPIGroupResources(disco)
		Expect(err).NotTo(HaveOccurred())
		mapper := restmapper.NewShortcutExpander(restmapper.NewDiscoveryRESTMapper(groups), disco, nil)
		gvr, err := mapper.ResourceFor(schema.GroupVersionResource{Resource: "jobs"})
		Expect(err).NotTo(HaveOccurred())
		Expect(gvr.Group).To(Equal("batch"), "plain 'jobs' still means batch/v1 Jobs")
		gvr, err = mapper.ResourceFor(schema.GroupVersionResource{Resource: "qjob"})
		Expect(err).NotTo(HaveOccurred())
		Expect(gvr.GroupResource()).To(Equal(schema.GroupResource{Group: v1.GroupVersion.Group, Resource: "jobs"}))
		gvr, err = mapper.ResourceFor(schema.GroupVersionResource{Resource: "qbatch"})
		Expect(err).NotTo(HaveOccurred())
		Expect(gvr.Resource).To(Equal("batches"))
	})

	It("prints the columns an operator wants in kubectl get", func() {
		ns := newNamespace()
		b := validBatch(ns)
		Expect(k8s.Create(ctx, b)).To(Succeed())
		b.Status.Phase = v1.BatchRunning
		b.Status.JobsCount = 3
		b.Status.JobsCountPerStatus = map[v1.JobStatus]int32{v1.JobDone: 2, v1.JobRunning: 1}
		Expect(k8s.Status().Update(ctx, b)).To(Succeed())

		table := getTable(fmt.Sprintf("/apis/%s/namespaces/%s/batches", v1.GroupVersion, ns))
		Expect(table.columns).To(Equal([]string{"Name", "Status", "Device", "Queue", "Priority", "Jobs", "Done", "Open", "Age"}))
		Expect(table.rows).To(HaveLen(1))
		row := table.rows[0]
		Expect(row[:8]).To(Equal([]any{b.Name, "RUNNING", "EMU_FREE", "MEDIUM", float64(0), float64(3), float64(2), true}))

		d := &v1.Device{ObjectMeta: metav1.ObjectMeta{Name: "cols-" + rand.String(6)},
			Spec: v1.DeviceSpec{DeviceType: v1.DeviceTypeFresnel}}
		Expect(k8s.Create(ctx, d)).To(Succeed())
		table = getTable(fmt.Sprintf("/apis/%s/devices/%s", v1.GroupVersion, d.Name))
		Expect(table.columns).To(Equal([]string{"Name", "Type", "Status", "Emulator", "Running", "Queued", "Age"}))
		Expect(table.rows[0][1:3]).To(Equal([]any{"FRESNEL", "UP"}))
	})
})

type servedTable struct {
	columns []string
	rows    [][]any
}

// getTable asks the API server for the server-side printed table of a path, as kubectl get does.
func getTable(path string) servedTable {
	GinkgoHelper()
	rc, err := rest.UnversionedRESTClientFor(restConfigForTables())
	Expect(err).NotTo(HaveOccurred())
	raw, err := rc.Get().AbsPath(path).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	Expect(err).NotTo(HaveOccurred())
	var t metav1.Table
	Expect(json.Unmarshal(raw, &t)).To(Succeed())
	var out servedTable
	for _, c := range t.ColumnDefinitions {
		out.columns = append(out.columns, c.Name)
	}
	for _, r := range t.Rows {
		out.rows = append(out.rows, r.Cells)
	}
	return out
}

func restConfigForTables() *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &schema.GroupVersion{}
	c.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	return c
}
