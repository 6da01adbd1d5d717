package controllers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
)

// sequence is a small Pulser sequence: n atoms on a square grid, one
// constant global pulse whose duration (ns) is the variable "duration".
func sequence(atoms int) string {
	var reg []string
	for i := 0; i < atoms; i++ {
		reg = append(reg, fmt.Sprintf(`{"name": "q%d", "x": %d.0, "y": %d.0}`, i, 8*(i%4), 8*(i/4)))
	}
	dur := `{"expression": "index", "lhs": {"variable": "duration"}, "rhs": 0}`
	return `{"version": "1", "name": "test", "register": [` + strings.Join(reg, ", ") + `],
 "device": "AnalogDevice", "channels": {"ryd": "rydberg_global"},
 "variables": {"duration": {"type": "int", "value": [1000]}},
 "operations": [{"op": "pulse", "channel": "ryd", "protocol": "min-delay", "phase": 0.0, "post_phase_shift": 0.0,
   "amplitude": {"kind": "constant", "duration": ` + dur + `, "value": 6.283185307179586},
   "detuning": {"kind": "constant", "duration": ` + dur + `, "value": 0.0}}],
 "measurement": "ground-rydberg"}`
}

func vars(durationNS int) *apiextensionsv1.JSON {
	return &apiextensionsv1.JSON{Raw: []byte(fmt.Sprintf(`{"duration": [%d]}`, durationNS))}
}

// project creates a project namespace; its batches are deleted after the spec
// (envtest runs no garbage collector, so the spec's queue must not leak).
func project() string {
	GinkgoHelper()
	id := uuid.NewString()
	Expect(k8s.Create(ctx, testenv.ProjectNamespace(id))).To(Succeed())
	DeferCleanup(func() {
		Expect(k8s.DeleteAllOf(ctx, &quantumv1alpha1.Batch{}, client.InNamespace(id))).To(Succeed())
	})
	return id
}

// device creates a Device and deletes it after the spec.
func device(dt quantumv1alpha1.DeviceType, mutate ...func(*quantumv1alpha1.Device)) *quantumv1alpha1.Device {
	GinkgoHelper()
	d := &quantumv1alpha1.Device{
		ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(strings.ReplaceAll(string(dt), "_", "-")) + "-" + uuid.NewString()[:8]},
		Spec: quantumv1alpha1.DeviceSpec{
			DeviceType: dt, Availability: quantumv1alpha1.DeviceUp,
			IsEmulator: dt != quantumv1alpha1.DeviceTypeFresnel, Concurrency: 2,
		},
	}
	for _, m := range mutate {
		m(d)
	}
	Expect(k8s.Create(ctx, d)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, d))).To(Succeed()) })
	return d
}

// batch builds (does not create) a closed batch with inline jobs of these runs.
func batch(ns string, dt quantumv1alpha1.DeviceType, runs ...int32) *quantumv1alpha1.Batch {
	b := &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: uuid.NewString()},
		Spec: quantumv1alpha1.BatchSpec{
			SequenceBuilder: sequence(4), DeviceType: dt,
			QueuePriority: quantumv1alpha1.QueuePriorityMedium,
		},
	}
	for i, r := range runs {
		b.Spec.Jobs = append(b.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: r, Variables: vars(200 + 100*i)})
	}
	return b
}

func create(obj client.Object) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, obj)).To(Succeed())
}

func get[T client.Object](obj T) T {
	GinkgoHelper()
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return obj
}

// phaseOf returns a function for Eventually that reads the batch's phase.
func phaseOf(b *quantumv1alpha1.Batch) func() quantumv1alpha1.BatchStatus {
	return func() quantumv1alpha1.BatchStatus {
		cur := &quantumv1alpha1.Batch{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(b), cur); err != nil {
			return ""
		}
		return cur.Status.Phase
	}
}

// jobsOf lists a batch's jobs in creation order.
func jobsOf(b *quantumv1alpha1.Batch) []quantumv1alpha1.Job {
	GinkgoHelper()
	list := &quantumv1alpha1.JobList{}
	Expect(k8s.List(ctx, list, client.InNamespace(b.Namespace), client.MatchingLabels{quantumv1alpha1.BatchLabel: b.Name})).To(Succeed())
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Spec.CreationOrder < list.Items[j].Spec.CreationOrder })
	return list.Items
}

// jobPhases returns a function for Eventually that reads the phases of a
// batch's jobs in creation order.
func jobPhases(b *quantumv1alpha1.Batch) func() []quantumv1alpha1.JobStatus {
	return func() []quantumv1alpha1.JobStatus {
		var out []quantumv1alpha1.JobStatus
		for _, j := range jobsOf(b) {
			out = append(out, j.Status.Phase)
		}
		return out
	}
}

func condition(b *quantumv1alpha1.Batch, t string) *metav1.Condition {
	return meta.FindStatusCondition(get(b).Status.Conditions, t)
}

// lease reads a Lease, nil when absent.
func lease(ns, name string) *coordinationv1.Lease {
	l := &coordinationv1.Lease{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, l); err != nil {
		return nil
	}
	return l
}

func holder(l *coordinationv1.Lease) string {
	if l == nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// total sums a counter.
func total(c map[string]int64) int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// setStatus updates a device's spec field through a fresh read.
func updateDevice(d *quantumv1alpha1.Device, mutate func(*quantumv1alpha1.Device)) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &quantumv1alpha1.Device{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), cur); err != nil {
			return err
		}
		mutate(cur)
		return k8s.Update(ctx, cur)
	}).Should(Succeed())
}

func updateBatch(b *quantumv1alpha1.Batch, mutate func(*quantumv1alpha1.Batch)) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &quantumv1alpha1.Batch{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(b), cur); err != nil {
			return err
		}
		mutate(cur)
		return k8s.Update(ctx, cur)
	}).Should(Succeed())
}

func updateJob(j *quantumv1alpha1.Job, mutate func(*quantumv1alpha1.Job)) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &quantumv1alpha1.Job{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(j), cur); err != nil {
			return err
		}
		mutate(cur)
		return k8s.Update(ctx, cur)
	}).Should(Succeed())
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// webhookSink serves webhook deliveries until the spec ends; it returns
// the URL to deliver to and the last payload received (nil before one).
func webhookSink() (string, func() map[string]any) {
	GinkgoHelper()
	var (
		mu   sync.Mutex
		hook map[string]any
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var got map[string]any
		Expect(json.Unmarshal(data, &got)).To(Succeed())
		mu.Lock()
		defer mu.Unlock()
		hook = got
	}))
	DeferCleanup(srv.Close)
	return srv.URL + "/hook", func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return hook
	}
}
