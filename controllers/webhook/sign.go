package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signatures follow Standard Webhooks (standardwebhooks.com): the receiver
// recomputes HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>"
// with the project's key and compares it with the "v1,<base64>" entries of
// webhook-signature.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"

	// SecretPrefix starts a signing secret: "whsec_" and the base64 key.
	SecretPrefix = "whsec_"
	// DefaultTolerance is how far a timestamp may be from the receiver's
	// clock before Verify refuses it (a replay guard).
	DefaultTolerance = 5 * time.Minute
)

// ErrSignature marks a message whose signature does not verify.
var ErrSignature = errors.New("webhook signature does not verify")

// NewSecret returns a fresh signing secret: "whsec_" and 32 random bytes in
// base64.
func NewSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ParseSecret returns the key of a signing secret ("whsec_<base64>").
func ParseSecret(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(strings.TrimSpace(secret), SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("a webhook signing secret starts with %q", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("a webhook signing secret is %q and base64: %w", SecretPrefix, err)
	}
	if len(key) < 24 {
		return nil, fmt.Errorf("a webhook signing key has at least 24 bytes, not %d", len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature header value of a message: for each key,
// "v1," and the base64 HMAC-SHA256 of "id.timestamp.body", separated by
// spaces (Standard Webhooks' form for several keys during a rotation).
func Sign(keys [][]byte, id, timestamp string, body []byte) string {
	sigs := make([]string, len(keys))
	for i, key := range keys {
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp, body))
	}
	return strings.Join(sigs, " ")
}

func mac(key []byte, id, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received message as a receiver would: the headers are
// present, the timestamp is within tolerance of now, and one of the
// space-separated "v1,<base64>" signatures is the HMAC of the message with
// key. The error wraps ErrSignature.
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: missing %s, %s or %s", ErrSignature, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not a Unix time", ErrSignature, HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %s away from now", ErrSignature, HeaderTimestamp, d.Round(time.Second))
	}
	want := mac(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		enc, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature matches", ErrSignature)
}

// A project's signing secret is the Secret SecretName in its namespace, key
// SecretKey; the manager creates it with a fresh key when it is missing.
// During a rotation the old key stays under SecretPreviousKey and every
// delivery carries a signature by each key, so receivers switch to the new
// key at their own pace; deleting SecretPreviousKey ends the rotation.
const (
	SecretName        = "tweezer-webhook-signing"
	SecretKey         = "secret"
	SecretPreviousKey = "previous"
)
