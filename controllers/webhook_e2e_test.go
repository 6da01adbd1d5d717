package controllers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/webhook"
)

var _ = Describe("A terminal batch", func() {
	It("is POSTed to its webhook with retries, the delivery recorded, and counted in the metrics", func() {
		var (
			mu      sync.Mutex
			bodies  []map[string]any
			raw     []byte
			headers http.Header
			calls   int
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				http.Error(w, "not now", http.StatusServiceUnavailable)
				return
			}
			data, _ := io.ReadAll(r.Body)
			var m map[string]any
			Expect(json.Unmarshal(data, &m)).To(Succeed())
			bodies = append(bodies, m)
			raw, headers = data, r.Header.Clone()
		}))
		DeferCleanup(srv.Close)
		startManager()
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuFree)
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 30, 30)
		b.Spec.Webhook = srv.URL + "/hook"
		create(b)

		Eventually(func() metav1.ConditionStatus {
			c := condition(b, quantumv1alpha1.ConditionWebhookDelivered)
			if c == nil {
				return ""
			}
			return c.Status
		}).Should(Equal(metav1.ConditionTrue))
		mu.Lock()
		Expect(calls).To(Equal(2), "one failure, then one delivery")
		Expect(bodies).To(HaveLen(1))
		body := bodies[0]
		mu.Unlock()
		Expect(body).To(HaveKeyWithValue("id", b.Name))
		Expect(body).To(HaveKeyWithValue("status", "DONE"))
		Expect(body).To(HaveKeyWithValue("project_id", ns))
		Expect(body).To(HaveKeyWithValue("device_type", "EMU_FREE"))
		Expect(body).To(HaveKeyWithValue("jobs_count", 2.0))
		Expect(body["jobs_count_per_status"]).To(HaveKeyWithValue("DONE", 2.0))
		Expect(body).To(HaveKey("end_datetime"))

		By("recording the attempts in the batch's status")
		w := get(b).Status.Webhook
		Expect(w).NotTo(BeNil())
		Expect(w.Attempts).To(Equal(int32(2)))
		Expect(w.LastAttemptTime).NotTo(BeNil())
		Expect(w.NextAttemptTime).To(BeNil())

		By("signing the payload with the project's key (Standard Webhooks)")
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: webhook.SecretName}, secret)).To(Succeed())
		key, err := webhook.ParseSecret(string(secret.Data[webhook.SecretKey]))
		Expect(err).NotTo(HaveOccurred())
		mu.Lock()
		Expect(headers.Get("webhook-id")).To(Equal(string(get(b).UID)))
		Expect(webhook.Verify(key, headers, raw, time.Now(), webhook.DefaultTolerance)).To(Succeed())
		Expect(webhook.Verify(key, headers, append(raw, ' '), time.Now(), webhook.DefaultTolerance)).To(MatchError(webhook.ErrSignature))
		mu.Unlock()

		By("exposing Prometheus metrics")
		Expect(metricValue("tweezer_batches_finished_total", map[string]string{"device_type": "EMU_FREE", "status": "DONE"})).To(BeNumerically(">=", 1))
		Expect(metricValue("tweezer_jobs_finished_total", map[string]string{"device_type": "EMU_FREE", "status": "DONE"})).To(BeNumerically(">=", 2))
		Expect(metricValue("tweezer_batches_started_total", map[string]string{"device_type": "EMU_FREE"})).To(BeNumerically(">=", 1))
		Expect(metricValue("tweezer_batch_start_latency_seconds", map[string]string{"device_type": "EMU_FREE"})).To(BeNumerically(">=", 1))
		Expect(metricValue("tweezer_webhook_deliveries_total", map[string]string{"outcome": "failed"})).To(BeNumerically(">=", 1))
		Expect(metricValue("tweezer_webhook_deliveries_total", map[string]string{"outcome": "delivered"})).To(BeNumerically(">=", 1))
		_, err = metricFamily("tweezer_queue_depth")
		Expect(err).NotTo(HaveOccurred())
	})

	It("records a refused webhook target without retrying", func() {
		allowPrivateWebhooks = false
		DeferCleanup(func() { allowPrivateWebhooks = true })
		startManager()
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuFree)
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 10)
		b.Spec.Webhook = "ftp-is-refused.example.com" // no scheme the API accepts: the schema refuses it
		Expect(k8s.Create(ctx, b)).NotTo(Succeed())
		b.Spec.Webhook = "http://127.0.0.1:9/hook" // loopback, refused unless the operator allows it
		create(b)
		Eventually(func() string {
			c := condition(b, quantumv1alpha1.ConditionWebhookDelivered)
			if c == nil {
				return ""
			}
			return c.Reason
		}).Should(Equal("Refused"))
		Expect(get(b).Status.Phase).To(Equal(quantumv1alpha1.BatchDone))
		Expect(condition(b, quantumv1alpha1.ConditionWebhookDelivered).Status).To(Equal(metav1.ConditionFalse))
		Expect(metricValue("tweezer_webhook_deliveries_total", map[string]string{"outcome": "refused"})).To(BeNumerically(">=", 1))
	})
})

var _ = Describe("Webhook delivery", func() {
	It("runs on workers of its own: an endpoint that never answers delays neither another project's batches nor its webhooks", func() {
		// A delivery may hang for two minutes; the bounded waits below are far shorter.
		webhookTimeout = 2 * time.Minute
		DeferCleanup(func() { webhookTimeout = 10 * time.Second })
		var hanging atomic.Int32
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hanging.Add(1)
			defer hanging.Add(-1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		DeferCleanup(slow.Close)
		DeferCleanup(func() { close(release) }) // before slow.Close, which waits for its requests
		var delivered atomic.Int32
		fast := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { delivered.Add(1) }))
		DeferCleanup(fast.Close)
		startManager()
		device(quantumv1alpha1.DeviceTypeEmuFree, func(d *quantumv1alpha1.Device) { d.Spec.Concurrency = 4 })

		By("finishing more batches with a hanging webhook than the Batch reconciler has workers")
		slowProject := project()
		var slowBatches []*quantumv1alpha1.Batch
		for range 6 {
			b := batch(slowProject, quantumv1alpha1.DeviceTypeEmuFree, 10)
			b.Spec.Webhook = slow.URL + "/hook"
			create(b)
			slowBatches = append(slowBatches, b)
		}
		for _, b := range slowBatches {
			Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		}
		Eventually(hanging.Load).Should(BeNumerically(">=", 1))

		By("starting and finishing another project's batch, and delivering its webhook, while they hang")
		other := batch(project(), quantumv1alpha1.DeviceTypeEmuFree, 10)
		other.Spec.Webhook = fast.URL + "/hook"
		create(other)
		Eventually(phaseOf(other), 30*time.Second).Should(Equal(quantumv1alpha1.BatchDone))
		Eventually(func() metav1.ConditionStatus {
			if c := condition(other, quantumv1alpha1.ConditionWebhookDelivered); c != nil {
				return c.Status
			}
			return ""
		}, 30*time.Second).Should(Equal(metav1.ConditionTrue))
		Expect(delivered.Load()).To(Equal(int32(1)))

		By("holding at most one delivery of the hanging project in flight")
		Consistently(hanging.Load, 2*time.Second).Should(Equal(int32(1)))
		due := 0
		for _, b := range slowBatches {
			c := condition(b, quantumv1alpha1.ConditionWebhookDelivered)
			Expect(c).NotTo(BeNil())
			Expect(c.Status).To(Equal(metav1.ConditionUnknown))
			if c.Reason == "Pending" {
				due++
			}
		}
		Expect(due).To(Equal(len(slowBatches) - 1))
	})

	It("gives each project its signing Secret as soon as the project exists", func() {
		startManager()
		ns := project()
		secret, _ := signingSecret(ns)
		Expect(secret.OwnerReferences).To(BeEmpty(), "the Secret belongs to the project, not to a batch")
	})

	It("signs with the new and the previous key while a rotation lasts, and with a bad previous key records the error", func() {
		var (
			mu      sync.Mutex
			raw     []byte
			headers http.Header
		)
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			raw, _ = io.ReadAll(r.Body)
			headers = r.Header.Clone()
		}))
		DeferCleanup(srv.Close)
		startManager()
		ns := project()
		secret, old := signingSecret(ns)

		By("rotating: the old key moves to previous, a new one becomes current")
		fresh, err := webhook.NewSecret()
		Expect(err).NotTo(HaveOccurred())
		secret.Data[webhook.SecretPreviousKey] = secret.Data[webhook.SecretKey]
		secret.Data[webhook.SecretKey] = []byte(fresh)
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		key, err := webhook.ParseSecret(fresh)
		Expect(err).NotTo(HaveOccurred())

		device(quantumv1alpha1.DeviceTypeEmuFree)
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 10)
		b.Spec.Webhook = srv.URL + "/hook"
		create(b)
		Eventually(func() metav1.ConditionStatus {
			if c := condition(b, quantumv1alpha1.ConditionWebhookDelivered); c != nil {
				return c.Status
			}
			return ""
		}).Should(Equal(metav1.ConditionTrue))
		mu.Lock()
		Expect(webhook.Verify(key, headers, raw, time.Now(), webhook.DefaultTolerance)).To(Succeed(), "a receiver with the new key")
		Expect(webhook.Verify(old, headers, raw, time.Now(), webhook.DefaultTolerance)).To(Succeed(), "a receiver still on the old key")
		mu.Unlock()

		By("a malformed previous key: the delivery fails with the key named, and is not sent unsigned")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		secret.Data[webhook.SecretPreviousKey] = []byte("not-a-secret")
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		mu.Lock()
		headers = nil
		mu.Unlock()
		bad := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 10)
		bad.Spec.Webhook = srv.URL + "/hook"
		create(bad)
		Eventually(func() string {
			if w := get(bad).Status.Webhook; w != nil {
				return w.LastError
			}
			return ""
		}).Should(And(ContainSubstring(webhook.SecretName), ContainSubstring("key "+webhook.SecretPreviousKey)))
		mu.Lock()
		Expect(headers).To(BeNil(), "nothing was delivered")
		mu.Unlock()
	})

	It("keeps its attempts in status across a manager restart", func() {
		webhookBackoff = 3 * time.Second
		DeferCleanup(func() { webhookBackoff = 100 * time.Millisecond })
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			calls.Add(1)
			http.Error(w, "down", http.StatusServiceUnavailable)
		}))
		DeferCleanup(srv.Close)
		first := startManager()
		device(quantumv1alpha1.DeviceTypeEmuFree)
		b := batch(project(), quantumv1alpha1.DeviceTypeEmuFree, 10)
		b.Spec.Webhook = srv.URL + "/hook"
		create(b)
		Eventually(func() string {
			c := condition(b, quantumv1alpha1.ConditionWebhookDelivered)
			if c == nil {
				return ""
			}
			return c.Reason
		}).Should(Equal("Retrying"))
		first.stop()

		By("reading the attempt and the next retry back from status")
		w := get(b).Status.Webhook
		Expect(w).NotTo(BeNil())
		Expect(w.Attempts).To(BeNumerically(">=", 1))
		Expect(w.Attempts).To(BeNumerically("<", 3), "the suite's sender makes 3 attempts")
		Expect(w.NextAttemptTime).NotTo(BeNil())
		Expect(w.LastError).To(ContainSubstring("503"))
		Expect(calls.Load()).To(BeNumerically("<=", w.Attempts), "an attempt is recorded before its POST")

		By("giving up after the attempts left, not a fresh set, in a new manager")
		startManager()
		Eventually(func() string {
			c := condition(b, quantumv1alpha1.ConditionWebhookDelivered)
			if c == nil {
				return ""
			}
			return c.Reason
		}).Should(Equal("Failed"))
		Expect(get(b).Status.Webhook.Attempts).To(Equal(int32(3)))
		Expect(get(b).Status.Webhook.NextAttemptTime).To(BeNil())
		Expect(calls.Load()).To(Equal(int32(3)))
	})
})

func metricFamily(name string) (*dto.MetricFamily, error) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return nil, err
	}
	for _, f := range families {
		if f.GetName() == name {
			return f, nil
		}
	}
	return nil, io.EOF
}

// metricValue is a counter's value or a histogram's sample count.
func metricValue(name string, labels map[string]string) float64 {
	GinkgoHelper()
	f, err := metricFamily(name)
	Expect(err).NotTo(HaveOccurred(), "metric %s", name)
	for _, m := range f.GetMetric() {
		match := true
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		if m.GetHistogram() != nil {
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// signingSecret waits for the project's webhook signing Secret that the
// manager creates, and returns it with its current key.
func signingSecret(ns string) (*corev1.Secret, []byte) {
	GinkgoHelper()
	secret := &corev1.Secret{}
	Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: webhook.SecretName}, secret)
	}).Should(Succeed())
	key, err := webhook.ParseSecret(string(secret.Data[webhook.SecretKey]))
	Expect(err).NotTo(HaveOccurred())
	return secret, key
}
