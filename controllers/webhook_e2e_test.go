package controllers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

var _ = Describe("A terminal batch", func() {
	It("is POSTed to its webhook with retries, the delivery recorded, and counted in the metrics", func() {
		var (
			mu     sync.Mutex
			bodies []map[string]any
			calls  int
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

		By("exposing Prometheus metrics")
		Expect(metricValue("tweezer_batches_finished_total", map[string]string{"device_type": "EMU_FREE", "status": "DONE"})).To(BeNumerically(">=", 1))
		Expect(metricValue("tweezer_jobs_finished_total", map[string]string{"device_type": "EMU_FREE", "status": "DONE"})).To(BeNumerically(">=", 2))
		Expect(metricValue("tweezer_batches_started_total", map[string]string{"device_type": "EMU_FREE"})).To(BeNumerically(">=", 1))
		Expect(metricValue("tweezer_batch_start_latency_seconds", map[string]string{"device_type": "EMU_FREE"})).To(BeNumerically(">=", 1))
		Expect(metricValue("tweezer_webhook_deliveries_total", map[string]string{"outcome": "failed"})).To(BeNumerically(">=", 1))
		Expect(metricValue("tweezer_webhook_deliveries_total", map[string]string{"outcome": "delivered"})).To(BeNumerically(">=", 1))
		_, err := metricFamily("tweezer_queue_depth")
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
