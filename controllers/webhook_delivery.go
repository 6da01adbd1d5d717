package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/metrics"
	"github.com/tweezer-dev/tweezer/controllers/webhook"
	"github.com/tweezer-dev/tweezer/internal/sequences"
)

// Webhook delivery.
//
// A terminal batch with spec.webhook is due a delivery: the Batch reconciler
// marks it so (the WebhookDelivered condition, Unknown, reason Pending) in
// its terminal status write and does nothing slow. The WebhookReconciler,
// a controller of its own with its own bounded pool of workers, POSTs it.
// From then on it is the only writer of the WebhookDelivered condition and
// of status.webhook, with optimistic patches:
//
//  1. Before each POST it records the attempt (attempts, lastAttemptTime,
//     and nextAttemptTime far enough ahead to cover the POST and the
//     backoff), so a manager that stops mid-POST neither grants the batch
//     more attempts nor retries early.
//  2. After it, it records the outcome: True (Delivered), Unknown (Retrying,
//     with nextAttemptTime) or False (Failed after MaxAttempts, Refused by
//     the target policy).
//
// Delivery is at least once: a manager that stops between a POST and its
// outcome POSTs again (the webhook-id header is the same, so receivers can
// drop the duplicate). Each project has at most PerProject deliveries in
// flight, so a project whose endpoint never answers holds at most that many
// workers; its other deliveries wait in line, and the end of each
// reconciliation wakes the next one when a slot is free.

// reasonWebhookPending is the WebhookDelivered reason of a batch whose
// delivery is due and not started.
const reasonWebhookPending = "Pending"

// projectBusyWait is the longest a delivery waits when its project already
// has PerProject deliveries in flight; a finished delivery of the project
// wakes the next waiting one sooner.
const projectBusyWait = 30 * time.Second

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get,resourceNames=tweezer-webhook-signing
// +kubebuilder:rbac:groups="",resources=secrets,verbs=create
// Payloads carry a batch's sequence, which a large batch keeps in a ConfigMap.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get

// WebhookReconciler delivers terminal batches to their webhooks.
type WebhookReconciler struct {
	Client    client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	Sender    *webhook.Sender
	// Clock tells the time of attempts; nil is the real clock.
	Clock clock.PassiveClock
	// Workers bounds the deliveries in flight (default 4).
	Workers int
	// PerProject bounds the deliveries in flight of one project (default 1).
	PerProject int

	mu       sync.Mutex
	inFlight map[string]int
	// waiting holds, per project, the batches that found it busy, in order;
	// wake tells the controller to reconcile the next one.
	waiting map[string][]client.ObjectKey
	wake    chan event.GenericEvent
}

// webhookDue reports whether a batch waits for a webhook delivery.
func webhookDue(b *quantumv1alpha1.Batch) bool {
	if b.Spec.Webhook == "" || !b.Status.Phase.Terminal() || b.DeletionTimestamp != nil {
		return false
	}
	c := meta.FindStatusCondition(b.Status.Conditions, quantumv1alpha1.ConditionWebhookDelivered)
	return c == nil || c.Status == metav1.ConditionUnknown
}

// SetupWithManager registers the reconciler, named "webhook".
func (r *WebhookReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Workers <= 0 {
		r.Workers = 4
	}
	if r.PerProject <= 0 {
		r.PerProject = 1
	}
	if r.Sender.Timeout <= 0 {
		r.Sender.Timeout = 10 * time.Second
	}
	if r.Sender.MaxAttempts <= 0 {
		r.Sender.MaxAttempts = 5
	}
	r.inFlight = map[string]int{}
	r.waiting = map[string][]client.ObjectKey{}
	r.wake = make(chan event.GenericEvent, 1024)
	due := predicate.NewPredicateFuncs(func(o client.Object) bool {
		b, ok := o.(*quantumv1alpha1.Batch)
		return ok && webhookDue(b)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhook").
		For(&quantumv1alpha1.Batch{}, builder.WithPredicates(due)).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Workers}).
		Complete(r)
}

func (r *WebhookReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// acquire takes one of the project's delivery slots for key, or puts key
// in the project's waiting line.
func (r *WebhookReconciler) acquire(key client.ObjectKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight[key.Namespace] >= r.PerProject {
		if !slices.Contains(r.waiting[key.Namespace], key) {
			r.waiting[key.Namespace] = append(r.waiting[key.Namespace], key)
		}
		return false
	}
	r.inFlight[key.Namespace]++
	return true
}

// release gives the slot back.
func (r *WebhookReconciler) release(key client.ObjectKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight[key.Namespace]--; r.inFlight[key.Namespace] <= 0 {
		delete(r.inFlight, key.Namespace)
	}
}

// handOff wakes the project's next waiting batch when the project has a free
// slot. Every reconciliation ends with it, so a slot given back, or a woken
// batch that no longer waits, passes the turn on.
func (r *WebhookReconciler) handOff(project string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := r.waiting[project]
	if len(line) == 0 || r.inFlight[project] >= r.PerProject {
		return
	}
	next := line[0]
	if r.waiting[project] = line[1:]; len(r.waiting[project]) == 0 {
		delete(r.waiting, project)
	}
	ev := event.GenericEvent{Object: &quantumv1alpha1.Batch{ObjectMeta: metav1.ObjectMeta{Namespace: next.Namespace, Name: next.Name}}}
	select {
	case r.wake <- ev:
	default: // full: the waiting batch's own requeue comes later
	}
}

// Reconcile makes one delivery attempt of a due batch, when its time has come.
func (r *WebhookReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	defer r.handOff(req.Namespace)
	b := &quantumv1alpha1.Batch{}
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !webhookDue(b) {
		return ctrl.Result{}, nil
	}
	now := r.now()
	w := b.Status.Webhook
	if w == nil {
		w = &quantumv1alpha1.WebhookDelivery{}
	}
	if w.NextAttemptTime != nil && now.Before(w.NextAttemptTime.Time) {
		return ctrl.Result{RequeueAfter: w.NextAttemptTime.Sub(now)}, nil
	}
	maxAttempts := r.Sender.MaxAttempts
	if int(w.Attempts) >= maxAttempts {
		// The last attempt's outcome was never recorded (the manager
		// stopped during its POST): that was the last one.
		why := w.LastError
		if why == "" {
			why = "the outcome of the last attempt is unknown"
		}
		return ctrl.Result{}, r.record(ctx, b, w.Attempts, gaveUp(w.Attempts, why))
	}
	if _, err := r.Sender.Policy.CheckURL(b.Spec.Webhook); err != nil {
		return ctrl.Result{}, r.record(ctx, b, w.Attempts, refused(err))
	}
	if !r.acquire(req.NamespacedName) {
		return ctrl.Result{RequeueAfter: projectBusyWait}, nil
	}
	defer r.release(req.NamespacedName)
	keys, err := r.signingKeys(ctx, b.Namespace)
	if errors.Is(err, errBadSigningSecret) {
		// An administrator's mistake: say so on the batch and try again
		// later, without spending an attempt or sending it unsigned.
		return ctrl.Result{RequeueAfter: badSecretWait}, r.record(ctx, b, w.Attempts, outcome{
			status: metav1.ConditionUnknown, reason: "BadSigningSecret", message: err.Error(), lastError: err.Error(),
			eventType: corev1.EventTypeWarning, event: err.Error(),
		})
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	body, err := r.payload(ctx, b)
	if err != nil {
		return ctrl.Result{}, err
	}

	// Record the attempt before the POST.
	n := w.Attempts + 1
	claimed := b.DeepCopy()
	claimed.Status.Webhook = &quantumv1alpha1.WebhookDelivery{
		Attempts: n, LastAttemptTime: ptrTime(now), LastError: w.LastError,
		NextAttemptTime: ptrTime(ceilSecond(now.Add(r.Sender.Timeout + r.Sender.Backoff(int(n))))),
	}
	setWebhookCondition(claimed, metav1.ConditionUnknown, "Delivering", fmt.Sprintf("attempt %d of %d", n, maxAttempts))
	if err := r.Client.Status().Patch(ctx, claimed, client.MergeFromWithOptions(b, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil
		}
		return ctrl.Result{}, err
	}

	err = r.Sender.Deliver(ctx, b.Spec.Webhook, webhook.Message{ID: string(b.UID), Keys: keys, Body: body, Time: now})
	log := ctrl.LoggerFrom(ctx).WithValues("url", b.Spec.Webhook, "attempt", n)
	switch {
	case err == nil:
		log.Info("webhook delivered")
		return ctrl.Result{}, r.record(ctx, claimed, n, outcome{
			status: metav1.ConditionTrue, reason: "Delivered", message: "POST " + b.Spec.Webhook + " succeeded",
			eventType: corev1.EventTypeNormal, event: "delivered the batch to its webhook", metric: "delivered",
		})
	case errors.Is(err, webhook.ErrRefused):
		log.Info("webhook refused", "reason", err.Error())
		return ctrl.Result{}, r.record(ctx, claimed, n, refused(err))
	}
	log.Info("webhook delivery failed", "of", maxAttempts, "error", err.Error())
	if int(n) >= maxAttempts {
		o := gaveUp(n, err.Error())
		o.metric = "failed"
		return ctrl.Result{}, r.record(ctx, claimed, n, o)
	}
	failed := r.now()
	next := ceilSecond(failed.Add(r.Sender.Backoff(int(n))))
	if err := r.record(ctx, claimed, n, outcome{
		status: metav1.ConditionUnknown, reason: "Retrying", message: fmt.Sprintf("attempt %d of %d failed: %v", n, maxAttempts, err),
		lastError: err.Error(), next: &next, metric: "failed",
	}); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: next.Sub(failed)}, nil
}

// outcome is what an attempt (or a decision not to make one) records.
type outcome struct {
	status          metav1.ConditionStatus
	reason, message string
	// lastError is status.webhook.lastError; next its nextAttemptTime.
	lastError string
	next      *time.Time
	// eventType and event describe the outcome to humans (none when empty),
	// metric counts it (outcome label; none when empty).
	eventType, event string
	metric           string
}

// refused is the outcome of a target the policy refuses; retrying cannot help.
func refused(err error) outcome {
	return outcome{
		status: metav1.ConditionFalse, reason: "Refused", message: err.Error(), lastError: err.Error(),
		eventType: corev1.EventTypeWarning, event: err.Error(), metric: "refused",
	}
}

// gaveUp is the outcome of a delivery that used its attempts.
func gaveUp(n int32, why string) outcome {
	msg := fmt.Sprintf("gave up after %d attempts: %s", n, why)
	return outcome{
		status: metav1.ConditionFalse, reason: "Failed", message: msg, lastError: why,
		eventType: corev1.EventTypeWarning, event: msg,
	}
}

// record writes an outcome with an optimistic patch, from b and then, on a
// conflict (another writer changed other status fields), from a fresh read;
// it stops when the fresh read is no longer due at attempt n. Its event and
// metric follow a successful write.
func (r *WebhookReconciler) record(ctx context.Context, b *quantumv1alpha1.Batch, n int32, o outcome) error {
	cur, first, written := b, true, false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			cur = &quantumv1alpha1.Batch{}
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(b), cur); err != nil {
				return client.IgnoreNotFound(err)
			}
			if !webhookDue(cur) || attemptsOf(cur) != n {
				return nil
			}
		}
		first = false
		next := cur.DeepCopy()
		w := next.Status.Webhook
		if w == nil {
			w = &quantumv1alpha1.WebhookDelivery{}
			next.Status.Webhook = w
		}
		w.LastError = truncate(o.lastError, 1024)
		w.NextAttemptTime = nil
		if o.next != nil {
			w.NextAttemptTime = ptrTime(*o.next)
		}
		setWebhookCondition(next, o.status, o.reason, o.message)
		if err := r.Client.Status().Patch(ctx, next, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		written = true
		return nil
	})
	if err != nil || !written {
		return err
	}
	if o.event != "" && r.Recorder != nil {
		reason := "Webhook" + o.reason
		r.Recorder.Eventf(b, nil, o.eventType, reason, reason, "%s", o.event)
	}
	if o.metric != "" {
		metrics.WebhookDeliveries.WithLabelValues(o.metric).Inc()
	}
	return nil
}

func attemptsOf(b *quantumv1alpha1.Batch) int32 {
	if b.Status.Webhook == nil {
		return 0
	}
	return b.Status.Webhook.Attempts
}

func setWebhookCondition(b *quantumv1alpha1.Batch, st metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{
		Type: quantumv1alpha1.ConditionWebhookDelivered, Status: st, Reason: reason, Message: truncate(msg, 32768),
		ObservedGeneration: b.Generation,
	})
}

// SigningSecretReconciler gives every project namespace its webhook signing
// Secret as soon as the project exists, so that its members can read the key
// before the first delivery.
type SigningSecretReconciler struct {
	Webhooks *WebhookReconciler
}

// SetupWithManager registers the reconciler, named "webhook-signing".
func (r *SigningSecretReconciler) SetupWithManager(mgr ctrl.Manager) error {
	project := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[quantumv1alpha1.ProjectIDLabel] != "" && o.GetDeletionTimestamp() == nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhook-signing").
		For(&corev1.Namespace{}, builder.WithPredicates(project, predicate.LabelChangedPredicate{})).
		Complete(r)
}

// Reconcile creates the project's signing Secret when it is missing.
func (r *SigningSecretReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Webhooks.Client.Get(ctx, req.NamespacedName, ns); err != nil || ns.DeletionTimestamp != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	_, err := r.Webhooks.signingKeys(ctx, ns.Name)
	return ctrl.Result{}, err
}

// errBadSigningSecret marks a project signing Secret whose keys do not parse.
var errBadSigningSecret = errors.New("bad webhook signing secret")

// badSecretWait is how long a delivery waits for a bad signing Secret to be
// mended before it reads the Secret again.
const badSecretWait = 30 * time.Second

// signingKeys reads the project's signing keys from its Secret, creating the
// Secret with a fresh key when it is missing: the current key, then the
// previous one while a rotation lasts.
func (r *WebhookReconciler) signingKeys(ctx context.Context, ns string) ([][]byte, error) {
	s := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: webhook.SecretName}, s)
	if apierrors.IsNotFound(err) {
		secret, gerr := webhook.NewSecret()
		if gerr != nil {
			return nil, gerr
		}
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: webhook.SecretName, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "tweezer", "app.kubernetes.io/component": "webhook-signing"}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{webhook.SecretKey: []byte(secret)},
		}
		err = r.Client.Create(ctx, s)
		if apierrors.IsAlreadyExists(err) {
			s = &corev1.Secret{}
			err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: webhook.SecretName}, s)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the webhook signing secret %s/%s: %w", ns, webhook.SecretName, err)
	}
	var keys [][]byte
	for _, field := range []string{webhook.SecretKey, webhook.SecretPreviousKey} {
		v, ok := s.Data[field]
		if !ok && field == webhook.SecretPreviousKey {
			break
		}
		key, err := webhook.ParseSecret(string(v))
		if err != nil {
			return nil, fmt.Errorf("%w: the webhook signing secret %s/%s, key %s: %w", errBadSigningSecret, ns, webhook.SecretName, field, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// payload is the body POSTed for a batch: the REST API's batch document.
func (r *WebhookReconciler) payload(ctx context.Context, b *quantumv1alpha1.Batch) ([]byte, error) {
	projectID := b.Namespace
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: b.Namespace}, ns); err == nil && ns.Labels[quantumv1alpha1.ProjectIDLabel] != "" {
		projectID = ns.Labels[quantumv1alpha1.ProjectIDLabel]
	}
	deviceStatus := ""
	if b.Status.DeviceID != "" {
		d := &quantumv1alpha1.Device{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: b.Status.DeviceID}, d); err == nil {
			deviceStatus = string(d.Spec.Availability)
		}
	}
	updated := b.CreationTimestamp.Time
	if b.Status.EndTime != nil {
		updated = b.Status.EndTime.Time
	}
	// The document carries the sequence, which the manager's cache does not
	// hold (CacheOptions): the spec comes from the API server.
	full := &quantumv1alpha1.Batch{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(b), full); err != nil {
		return nil, err
	}
	doc := b.DeepCopy()
	doc.Spec = full.Spec
	if full.Spec.SequencesFrom != "" {
		// Large sequences live in the batch's ConfigMap (internal/sequences).
		set, err := sequences.Served(ctx, r.APIReader, full)
		if err != nil {
			return nil, err
		}
		doc.Spec.SequenceBuilder = set.Batch()
	}
	return webhook.Payload(doc, projectID, deviceStatus, updated)
}

func ptrTime(t time.Time) *metav1.Time {
	m := metav1.NewTime(t)
	return &m
}

// ceilSecond rounds up to the second: status times have whole seconds, and a
// recorded next attempt is never earlier than planned.
func ceilSecond(t time.Time) time.Time {
	if u := t.Truncate(time.Second); !u.Equal(t) {
		return u.Add(time.Second)
	}
	return t
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
