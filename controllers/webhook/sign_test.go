package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerifyDetectsForgedAndAlteredMessages(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSecret()
	otherKey, _ := ParseSecret(other)
	now := time.Unix(1_790_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"id":"b1","status":"DONE"}`)
	good := Sign([][]byte{key}, "msg_1", ts, body)
	headers := func(id, ts, sig string) http.Header {
		h := http.Header{}
		for k, v := range map[string]string{HeaderID: id, HeaderTimestamp: ts, HeaderSignature: sig} {
			if v != "" {
				h.Set(k, v)
			}
		}
		return h
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
		ok   bool
	}{
		{"genuine", headers("msg_1", ts, good), body, true},
		{"genuine among other signatures (rotation)", headers("msg_1", ts, "v1,AAAA "+good+" v2,xyz"), body, true},
		{"within tolerance", headers("msg_1", strconv.FormatInt(now.Unix()-299, 10), Sign([][]byte{key}, "msg_1", strconv.FormatInt(now.Unix()-299, 10), body)), body, true},
		{"altered body", headers("msg_1", ts, good), []byte(`{"id":"b1","status":"ERROR"}`), false},
		{"altered id", headers("msg_2", ts, good), body, false},
		{"altered timestamp", headers("msg_1", strconv.FormatInt(now.Unix()+1, 10), good), body, false},
		{"forged with another key", headers("msg_1", ts, Sign([][]byte{otherKey}, "msg_1", ts, body)), body, false},
		{"forged without the v1 prefix", headers("msg_1", ts, strings.TrimPrefix(good, "v1,")), body, false},
		{"forged with another version", headers("msg_1", ts, "v2,"+strings.TrimPrefix(good, "v1,")), body, false},
		{"truncated signature", headers("msg_1", ts, good[:len(good)-4]), body, false},
		{"not base64", headers("msg_1", ts, "v1,!!!"), body, false},
		{"no signature", headers("msg_1", ts, ""), body, false},
		{"no id", headers("", ts, good), body, false},
		{"no timestamp", headers("msg_1", "", good), body, false},
		{"timestamp not a number", headers("msg_1", "soon", good), body, false},
		{"replayed too late", headers("msg_1", strconv.FormatInt(now.Unix()-301, 10), Sign([][]byte{key}, "msg_1", strconv.FormatInt(now.Unix()-301, 10), body)), body, false},
		{"from the future", headers("msg_1", strconv.FormatInt(now.Unix()+301, 10), Sign([][]byte{key}, "msg_1", strconv.FormatInt(now.Unix()+301, 10), body)), body, false},
	} {
		err := Verify(key, tc.h, tc.body, now, DefaultTolerance)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrSignature) {
			t.Errorf("%s: Verify = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestSignIsStandardWebhooks(t *testing.T) {
	// The example of the Standard Webhooks specification.
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestParseSecret(t *testing.T) {
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!", "whsec_c2hvcnQ="} {
		if _, err := ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q) succeeded", s)
		}
	}
}
