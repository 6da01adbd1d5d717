package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

func TestPolicyRefusesInternalTargets(t *testing.T) {
	p := Policy{}
	for _, u := range []string{
		"http://127.0.0.1/hook", "http://[::1]:8080/", "http://localhost/x", "http://api.localhost/",
		"http://169.254.169.254/latest/meta-data", "http://[fe80::1]/", "http://10.0.0.7/", "http://192.168.1.1/",
		"http://172.16.3.4/", "http://100.64.1.1/", "http://[fd00::1]/", "http://0.0.0.0/",
		"http://tweezer-apiserver.tweezer-system.svc/", "http://x.default.svc.cluster.local/", "http://kubernetes/",
		"ftp://example.com/", "http:///nohost",
	} {
		if _, err := p.CheckURL(u); !errors.Is(err, ErrRefused) {
			t.Errorf("CheckURL(%s) = %v, want refused", u, err)
		}
	}
	for _, u := range []string{"https://hooks.example.com/tweezer", "http://203.0.113.7/x", "https://[2001:db8::1]/", "https://[::ffff:203.0.113.7]:443/"} {
		if _, err := p.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%s) = %v, want allowed", u, err)
		}
	}
	if _, err := (Policy{AllowPrivate: true, AnyPort: true}).CheckURL("http://127.0.0.1:9/x"); err != nil {
		t.Errorf("AllowPrivate refused loopback: %v", err)
	}
}

func TestPolicyRefusesTheNewRanges(t *testing.T) {
	for _, u := range []string{
		"http://[64:ff9b::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::1]/", "http://192.0.0.170/", "http://198.18.0.1/",
		"http://240.0.0.1/", "http://[::a9fe:a9fe]/", "http://[::ffff:169.254.169.254]/", "http://[::ffff:a00:1]/",
	} {
		if _, err := (Policy{}).CheckURL(u); !errors.Is(err, ErrRefused) {
			t.Errorf("CheckURL(%s) = %v, want refused", u, err)
		}
	}
}

func TestPolicyLimitsPorts(t *testing.T) {
	for _, tc := range []struct {
		p       Policy
		url     string
		allowed bool
	}{
		{Policy{}, "http://hooks.example.com/", true},
		{Policy{}, "https://hooks.example.com/", true},
		{Policy{}, "https://hooks.example.com:443/", true},
		{Policy{}, "http://hooks.example.com:443/", true},
		{Policy{}, "http://203.0.113.7:8080/x", false},
		{Policy{}, "https://hooks.example.com:22/", false},
		{Policy{}, "https://hooks.example.com:99999/", false},
		{Policy{Ports: []uint16{8443}}, "https://hooks.example.com:8443/", true},
		{Policy{Ports: []uint16{8443}}, "https://hooks.example.com/", false},
		{Policy{AnyPort: true}, "http://203.0.113.7:8080/x", true},
		{Policy{AllowPrivate: true}, "http://127.0.0.1:8080/x", false},
	} {
		_, err := tc.p.CheckURL(tc.url)
		if tc.allowed && err != nil || !tc.allowed && !errors.Is(err, ErrRefused) {
			t.Errorf("%+v.CheckURL(%s) = %v, want allowed %v", tc.p, tc.url, err, tc.allowed)
		}
	}
}

func TestClientRefusesInternalAddressesAtDialTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	// A public-looking name could resolve to an internal address: the dialer
	// checks the address it connects to.
	_, err := Policy{AnyPort: true}.Client(time.Second).Get(srv.URL)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("GET %s = %v, want refused", srv.URL, err)
	}
}

func TestDeliver(t *testing.T) {
	var calls atomic.Int32
	var got []byte
	var headers http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		got, _ = io.ReadAll(r.Body)
		headers = r.Header.Clone()
	}))
	defer srv.Close()
	s := NewSender(Policy{AllowPrivate: true, AnyPort: true})
	key := []byte("0123456789abcdef0123456789abcdef")
	m := Message{ID: "batch-uid", Keys: [][]byte{key}, Body: []byte(`{"id":"b"}`), Time: time.Now()}
	err := s.Deliver(context.Background(), srv.URL, m)
	if err == nil || errors.Is(err, ErrRefused) {
		t.Fatalf("first delivery = %v, want a retryable failure", err)
	}
	if err := s.Deliver(context.Background(), srv.URL, m); err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	if string(got) != `{"id":"b"}` {
		t.Fatalf("body = %s", got)
	}
	if headers.Get(HeaderID) != "batch-uid" {
		t.Errorf("%s = %q", HeaderID, headers.Get(HeaderID))
	}
	if err := Verify(key, headers, got, time.Now(), DefaultTolerance); err != nil {
		t.Errorf("the delivered message does not verify: %v", err)
	}
	if err := NewSender(Policy{AnyPort: true}).Deliver(context.Background(), srv.URL, m); !errors.Is(err, ErrRefused) {
		t.Fatalf("delivery to loopback without AllowPrivate = %v, want refused", err)
	}
	if err := NewSender(Policy{AllowPrivate: true}).Deliver(context.Background(), srv.URL, m); !errors.Is(err, ErrRefused) {
		t.Fatalf("delivery to port %s without AnyPort = %v, want refused", srv.URL, err)
	}
}

// During a rotation a delivery carries one signature per key: a receiver
// that still holds the old key and one that has the new key both verify it,
// and a third key does not.
func TestDeliverDuringARotation(t *testing.T) {
	var got []byte
	var headers http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		headers = r.Header.Clone()
	}))
	defer srv.Close()
	current, previous, other := []byte("new-key-0123456789abcdef01234567"), []byte("old-key-0123456789abcdef01234567"), []byte("not-a-key-0123456789abcdef012345")
	m := Message{ID: "batch-uid", Keys: [][]byte{current, previous}, Body: []byte(`{"id":"b"}`), Time: time.Now()}
	if err := NewSender(Policy{AllowPrivate: true, AnyPort: true}).Deliver(context.Background(), srv.URL, m); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(headers.Get(HeaderSignature))); n != 2 {
		t.Fatalf("%s = %q: %d signatures, want 2", HeaderSignature, headers.Get(HeaderSignature), n)
	}
	for name, key := range map[string][]byte{"current": current, "previous": previous} {
		if err := Verify(key, headers, got, time.Now(), DefaultTolerance); err != nil {
			t.Errorf("a receiver with the %s key: %v", name, err)
		}
	}
	if err := Verify(other, headers, got, time.Now(), DefaultTolerance); !errors.Is(err, ErrSignature) {
		t.Errorf("a receiver with another key: %v, want ErrSignature", err)
	}
}

func TestSetPorts(t *testing.T) {
	var p Policy
	if err := p.SetPorts("443, 8443"); err != nil || p.AnyPort || len(p.Ports) != 2 || p.Ports[1] != 8443 {
		t.Errorf("SetPorts(443, 8443) = %v, %+v", err, p)
	}
	if err := p.SetPorts("any"); err != nil || !p.AnyPort || p.Ports != nil {
		t.Errorf("SetPorts(any) = %v, %+v", err, p)
	}
	for _, v := range []string{"", "0", "65536", "80,http", "all"} {
		if err := p.SetPorts(v); err == nil {
			t.Errorf("SetPorts(%q) succeeded", v)
		}
	}
}

func TestBackoffDoublesUpToAMinute(t *testing.T) {
	s := &Sender{BaseBackoff: time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: time.Minute} {
		if got := s.Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestPayloadIsTheAPIBatchShape(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b := &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{Name: "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f", Namespace: "ns", CreationTimestamp: start},
		Spec: quantumv1alpha1.BatchSpec{
			SequenceBuilder: "{}", DeviceType: quantumv1alpha1.DeviceTypeEmuFree, Priority: 3,
			QueuePriority: quantumv1alpha1.QueuePriorityHigh, Webhook: "https://h.example.com/",
			Configuration: &apiextensionsv1.JSON{Raw: []byte(`{"dt":10}`)},
		},
		Status: quantumv1alpha1.BatchStatusFields{
			Phase: quantumv1alpha1.BatchDone, JobsCount: 2, StartTime: &start, EndTime: &start,
			JobsCountPerStatus: map[quantumv1alpha1.JobStatus]int32{quantumv1alpha1.JobDone: 2},
		},
	}
	data, err := Payload(b, "proj", "UP", start.Time)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "parent_id", "status", "complete", "open", "priority", "device_type", "user_id",
		"project_id", "created_at", "updated_at", "sequence_builder", "jobs_count", "jobs_count_per_status", "tags",
		"configuration", "backend_configuration", "webhook", "start_datetime", "end_datetime", "device_status", "queue_priority"} {
		if _, ok := m[k]; !ok {
			t.Errorf("payload lacks %q", k)
		}
	}
	if m["status"] != "DONE" || m["project_id"] != "proj" || m["complete"] != true || m["start_datetime"] != "2026-01-02T03:04:05Z" ||
		m["jobs_count_per_status"].(map[string]any)["DONE"] != 2.0 || m["configuration"].(map[string]any)["dt"] != 10.0 {
		t.Errorf("payload = %s", data)
	}
}
