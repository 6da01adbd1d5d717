package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tweezer-dev/tweezer/apiserver/envelope"
)

// Idempotent creation. The SDK retries a POST that timed out or failed with
// 408/425/429/5xx, so the first attempt may well have created its batch or
// workload. A client that sends an Idempotency-Key header with
// POST /api/v1/batches or /api/v1/workloads gets, on a retry with the same
// key (same user, same project), the object of the first attempt instead of
// a second one.
//
// The object's name (its id, still a UUID) is derived from the kind, the
// project, the user and the key, so two attempts race for one name in the
// API server: this holds across facade replicas and restarts with no state in
// the facade. The object also carries the hashed key (a label) and a hash of
// the request body (an annotation): a retry whose body differs is 422.
const (
	// IdempotencyKeyLabel holds a hash of the project, user and Idempotency-Key
	// that created the object.
	IdempotencyKeyLabel = "quantum.tweezer.dev/idempotency-key"
	// IdempotencyRequestAnnotation holds a hash of the request body that created it.
	IdempotencyRequestAnnotation = "quantum.tweezer.dev/idempotency-request"
)

// idempotencySpace is the UUID namespace of the ids derived from keys.
var idempotencySpace = uuid.MustParse("73b3f75f-1ef9-4736-8a29-3ae44e14cff4")

// idempotency is what one keyed create request stores on its object.
type idempotency struct {
	key     string
	name    string // the object's id
	label   string // hashed key
	request string // hashed body
}

// newIdempotency returns nil when the request carries no key.
func newIdempotency(kind, namespace, userName, key string, body any) (*idempotency, error) {
	if key == "" {
		return nil, nil
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, internal(err)
	}
	scope := strings.Join([]string{kind, namespace, userName, key}, "\n")
	keyHash := sha256.Sum256([]byte(scope))
	bodyHash := sha256.Sum256(raw)
	return &idempotency{
		key:     key,
		name:    uuid.NewSHA1(idempotencySpace, []byte(scope)).String(),
		label:   hex.EncodeToString(keyHash[:20]),
		request: hex.EncodeToString(bodyHash[:]),
	}, nil
}

// mark names obj after the key and records the key and the body on it.
func (i *idempotency) mark(obj client.Object) {
	if i == nil {
		return
	}
	obj.SetName(i.name)
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[IdempotencyKeyLabel] = i.label
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[IdempotencyRequestAnnotation] = i.request
	obj.SetAnnotations(ann)
}

// create creates obj; when obj was marked and an attempt with the same key
// already created it, obj becomes that first object, provided it was created
// from the same body (else 422). created says whether this call made it.
func (i *idempotency) create(ctx context.Context, c client.Client, obj client.Object, kind string) (created bool, err error) {
	err = c.Create(ctx, obj)
	if err == nil || i == nil || !apierrors.IsAlreadyExists(err) {
		return err == nil, err
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return false, err
	}
	switch {
	case obj.GetLabels()[IdempotencyKeyLabel] != i.label:
		return false, envelope.Errorf(http.StatusConflict, "the %s id %s that Idempotency-Key %q stands for is taken by an object created without it", kind, i.name, i.key)
	case obj.GetAnnotations()[IdempotencyRequestAnnotation] != i.request:
		return false, envelope.Invalid(fmt.Sprintf("Idempotency-Key %q was already used for %s %s with a different request body; use a new key for a new request", i.key, kind, obj.GetName()), "header", "Idempotency-Key")
	}
	return false, nil
}
