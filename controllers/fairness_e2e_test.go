package controllers_test

import (
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/jobbudget"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

var _ = Describe("Batches submitted while the manager is down", func() {
	It("start before the batches submitted after it comes back (first come, first served)", func() {
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuFree, func(d *quantumv1alpha1.Device) { d.Spec.Concurrency = 1 })

		// The watch records when each batch is first seen with a device:
		// creationTimestamp and startTime have one-second resolution.
		wc, err := client.NewWithWatch(cfg, client.Options{Scheme: controlplane.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		w, err := wc.Watch(ctx, &quantumv1alpha1.BatchList{}, client.InNamespace(ns))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.Stop)
		var mu sync.Mutex
		started := map[string]time.Time{}
		go func() {
			for ev := range w.ResultChan() {
				if b, ok := ev.Object.(*quantumv1alpha1.Batch); ok && b.Status.DeviceID != "" {
					mu.Lock()
					if _, seen := started[b.Name]; !seen {
						started[b.Name] = time.Now()
					}
					mu.Unlock()
				}
			}
		}()

		var early, late []*quantumv1alpha1.Batch
		for range 80 {
			b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 10, 10, 10, 10, 10)
			create(b)
			early = append(early, b)
		}
		time.Sleep(1100 * time.Millisecond) // the late batches are a creationTimestamp second younger
		// The project's job budget books the batches' jobs in the order they
		// are reconciled, so it keeps that order too; at 50 jobs a second
		// rather than the default 5, the 400 early jobs take 8 s, not 80.
		conf := managerConfig()
		conf.Options.JobBudget = jobbudget.Limits{PerSecond: 50, Burst: 20}
		m := runManager(cfg, conf)
		// The early batches are the manager's initial list; the late ones
		// arrive as watch events while it works through them.
		Expect(m.cache.WaitForCacheSync(ctx)).To(BeTrue())
		for range 3 {
			b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 10)
			create(b)
			late = append(late, b)
		}
		for _, b := range append(early, late...) {
			Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		}

		mu.Lock()
		defer mu.Unlock()
		var lastEarly time.Time
		for _, b := range early {
			t, ok := started[b.Name]
			Expect(ok).To(BeTrue(), "batch %s was never seen started", b.Name)
			if t.After(lastEarly) {
				lastEarly = t
			}
		}
		for _, b := range late {
			Expect(started[b.Name]).To(BeTemporally(">", lastEarly),
				"a batch created after the manager came back started before one created while it was down")
		}
	})
})

var _ = Describe("Two projects sharing a device", func() {
	It("take turns: a project's single batch starts after one batch of a project that queued ten, not after all ten", func() {
		flooder, quiet := project(), project()
		startManager()

		// The watch records the order in which batches are first seen with
		// a device, in both projects.
		wc, err := client.NewWithWatch(cfg, client.Options{Scheme: controlplane.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		var mu sync.Mutex
		var order []string
		seen := map[string]bool{}
		for _, ns := range []string{flooder, quiet} {
			w, err := wc.Watch(ctx, &quantumv1alpha1.BatchList{}, client.InNamespace(ns))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(w.Stop)
			go func() {
				for ev := range w.ResultChan() {
					if b, ok := ev.Object.(*quantumv1alpha1.Batch); ok && b.Status.DeviceID != "" {
						mu.Lock()
						if !seen[b.Name] {
							seen[b.Name] = true
							order = append(order, b.Name)
						}
						mu.Unlock()
					}
				}
			}()
		}

		// The flooding project queues ten batches, the quiet one a single
		// batch a second later; they wait for a device of their type.
		var flood []*quantumv1alpha1.Batch
		for range 10 {
			b := batch(flooder, quantumv1alpha1.DeviceTypeEmuFree, 10)
			create(b)
			flood = append(flood, b)
		}
		time.Sleep(1100 * time.Millisecond) // a creationTimestamp second younger
		single := batch(quiet, quantumv1alpha1.DeviceTypeEmuFree, 10)
		create(single)
		for _, b := range append(flood, single) {
			Eventually(func() *metav1.Condition { return condition(get(b), quantumv1alpha1.ConditionScheduled) }).
				Should(HaveField("Reason", "NoDevice"))
		}

		// One device that runs one batch at a time appears.
		device(quantumv1alpha1.DeviceTypeEmuFree, func(d *quantumv1alpha1.Device) { d.Spec.Concurrency = 1 })
		for _, b := range append(flood, single) {
			Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		}

		mu.Lock()
		defer mu.Unlock()
		var mine []string
		for _, name := range order {
			if name == single.Name {
				mine = append(mine, "quiet")
			} else {
				mine = append(mine, "flood")
			}
		}
		Expect(mine).To(HaveLen(11))
		Expect(mine[1]).To(Equal("quiet"),
			"the quiet project's batch started #%d of 11, want 2nd (after the flood's oldest): %v", 1+slices.Index(mine, "quiet"), mine)
		// The flood's own batches keep their order: age, then name.
		var floodOrder []string
		for _, name := range order {
			if name != single.Name {
				floodOrder = append(floodOrder, name)
			}
		}
		slices.SortFunc(flood, func(a, b *quantumv1alpha1.Batch) int {
			if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		var want []string
		for _, b := range flood {
			want = append(want, b.Name)
		}
		Expect(floodOrder).To(Equal(want))
	})
})
