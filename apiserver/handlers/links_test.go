package handlers

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

func job(ns, name, uid string) *quantumv1alpha1.Job {
	return &quantumv1alpha1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: k8stypes.UID("uid-" + uid)}}
}

func TestSignedLinkServesOnlyItsObject(t *testing.T) {
	h := &Handlers{ResultsKeys: NewKeyring([]byte("k")), ResultsLinkTTL: time.Hour}
	mine, theirs, recreated := job("a", "j", "1"), job("b", "j", "2"), job("a", "j", "3")
	q := h.signedQuery("job", mine)
	exp, sig := q.Get("expires"), q.Get("signature")

	for _, order := range [][]*quantumv1alpha1.Job{{mine, theirs}, {theirs, mine}} {
		if got := signedOne(h, "job", order, exp, sig); got != mine {
			t.Errorf("candidates %s/%s: the link served %v", order[0].Namespace, order[1].Namespace, got)
		}
	}
	if got := signedOne(h, "job", []*quantumv1alpha1.Job{theirs, recreated}, exp, sig); got != nil {
		t.Errorf("the link served %s/%s (uid %s), not the object it was made for", got.Namespace, got.Name, got.UID)
	}
	if got := signedOne(h, "workload", []*quantumv1alpha1.Job{mine}, exp, sig); got != nil {
		t.Error("a job's link is valid for another kind")
	}
	past := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	if got := signedOne(h, "job", []*quantumv1alpha1.Job{mine}, past, h.sign("job", mine, past)); got != nil {
		t.Error("an expired link is served")
	}
	if got := signedOne(h, "job", []*quantumv1alpha1.Job{mine}, "soon", sig); got != nil {
		t.Error("a link with a malformed expiry is served")
	}
}

// After a rotation (the current key becomes the previous one), links signed
// with the old key still verify, new links are signed with the new key, and
// links signed with any other key do not verify; a second rotation retires
// the oldest key.
func TestSignedLinksSurviveARotation(t *testing.T) {
	h := &Handlers{ResultsKeys: NewKeyring([]byte("key-1")), ResultsLinkTTL: time.Hour}
	mine := job("a", "j", "1")
	old := h.signedQuery("job", mine)
	h.ResultsKeys.Set(LinkKeys{Current: []byte("key-2"), Previous: []byte("key-1")})
	if got := signedOne(h, "job", []*quantumv1alpha1.Job{mine}, old.Get("expires"), old.Get("signature")); got != mine {
		t.Fatal("a link signed with the previous key no longer verifies")
	}
	fresh := h.signedQuery("job", mine)
	if fresh.Get("signature") == old.Get("signature") {
		t.Fatal("new links are still signed with the previous key")
	}
	if got := signedOne(h, "job", []*quantumv1alpha1.Job{mine}, fresh.Get("expires"), fresh.Get("signature")); got != mine {
		t.Fatal("a link signed with the current key does not verify")
	}
	exp := fresh.Get("expires")
	forged := (&Handlers{ResultsKeys: NewKeyring([]byte("guessed"))}).sign("job", mine, exp)
	for what, sig := range map[string]string{"another key": forged, "no signature": "", "a truncated signature": fresh.Get("signature")[:32]} {
		if got := signedOne(h, "job", []*quantumv1alpha1.Job{mine}, exp, sig); got != nil {
			t.Errorf("a link with %s verifies", what)
		}
	}
	h.ResultsKeys.Set(LinkKeys{Current: []byte("key-3"), Previous: []byte("key-2")})
	if got := signedOne(h, "job", []*quantumv1alpha1.Job{mine}, old.Get("expires"), old.Get("signature")); got != nil {
		t.Error("a link signed with a retired key (two rotations ago) still verifies")
	}
}

func TestIdempotencyScope(t *testing.T) {
	body := map[string]any{"runs": 1}
	base, err := newIdempotency("batch", "p1", "alice", "k", body)
	if err != nil {
		t.Fatal(err)
	}
	if none, _ := newIdempotency("batch", "p1", "alice", "", body); none != nil {
		t.Error("no key, yet an idempotency record")
	}
	again, _ := newIdempotency("batch", "p1", "alice", "k", body)
	if *again != *base {
		t.Errorf("the same request gives %+v, then %+v", base, again)
	}
	if id, err := uuid.Parse(base.name); err != nil || id.Version() != 5 {
		t.Errorf("id %s is not a name-based UUID: %v", base.name, err)
	}
	if len(base.label) > 63 {
		t.Errorf("label value %q is too long for a label", base.label)
	}
	for what, other := range map[string][4]string{
		"kind": {"workload", "p1", "alice", "k"}, "project": {"batch", "p2", "alice", "k"},
		"user": {"batch", "p1", "bob", "k"}, "key": {"batch", "p1", "alice", "k2"},
	} {
		o, _ := newIdempotency(other[0], other[1], other[2], other[3], body)
		if o.name == base.name || o.label == base.label {
			t.Errorf("another %s gives the same id or label", what)
		}
		if o.request != base.request {
			t.Errorf("another %s changes the body hash", what)
		}
	}
	changed, _ := newIdempotency("batch", "p1", "alice", "k", map[string]any{"runs": 2})
	if changed.name != base.name || changed.request == base.request {
		t.Error("another body must keep the id and change the body hash")
	}
}
