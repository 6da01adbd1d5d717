package controllers_test

import (
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
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
		m := startManager()
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
