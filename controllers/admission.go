package controllers

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/metrics"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
)

// Queue admits pending batches onto devices, one decision at a time, in the
// order of package scheduler. It reads the manager's cache and remembers the
// admissions that the cache does not show yet, so that two decisions never
// give the same room twice.
type Queue struct {
	client         client.Client
	leaseNamespace string
	leaseDuration  time.Duration
	clock          clock.PassiveClock

	mu       sync.Mutex
	expect   map[client.ObjectKey]string // batch → device, until the cache shows it
	released map[client.ObjectKey]bool   // finished batches, until the cache shows it
	vacated  map[client.ObjectKey]bool   // idle batches that gave their QPU back, until the cache shows it
	events   chan event.GenericEvent
}

// NewQueue returns a queue reading and writing through c.
func NewQueue(c client.Client, leaseNamespace string, leaseDuration time.Duration) *Queue {
	return &Queue{
		client: c, leaseNamespace: leaseNamespace, leaseDuration: leaseDuration,
		clock:  clock.RealClock{},
		expect: map[client.ObjectKey]string{}, released: map[client.ObjectKey]bool{},
		vacated: map[client.ObjectKey]bool{},
		events:  make(chan event.GenericEvent, 4096),
	}
}

// admission is the queue's answer for one batch.
type admission struct {
	// Device is set when the batch starts now on that device.
	Device *quantumv1alpha1.Device
	// Waiting tells why it does not start.
	Waiting scheduler.Waiting
	// Retry asks to look again after this long (a QPU Lease not yet expired).
	Retry time.Duration
}

// Admit decides whether batch b starts now. fresh confirms that b is not a
// stale copy before anything is reserved for it. On success the batch is
// expected on the device until the cache shows it (or Forget is called).
func (q *Queue) Admit(ctx context.Context, b *quantumv1alpha1.Batch, fresh func() (bool, error)) (admission, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	devices, snap, err := q.snapshot(ctx, b.Spec.DeviceType, b)
	if err != nil {
		return admission{}, err
	}
	why := scheduler.Why(devices)
	key := client.ObjectKeyFromObject(b)
	out := admission{Waiting: why}
	dev, before, after := turn(key, devices, snap)
	for _, k := range before {
		q.kick(k)
	}
	if dev != nil {
		if ok, err := fresh(); err != nil || !ok {
			return admission{Waiting: why}, err
		}
		ok := true
		if scheduler.IsQPU(dev) {
			var retry time.Duration
			if ok, retry, err = q.reserveQPU(ctx, b, dev); err != nil {
				return admission{}, err
			}
			out.Retry = retry
		}
		if ok {
			q.expect[key] = dev.Name
			out.Device = dev
		}
	}
	for _, k := range after {
		q.kick(k)
	}
	return out, nil
}

// turn is the queue's decision for the batch key: the device it starts on
// now (nil when it waits), and the other batches that start now, planned
// before and after it, which the queue wakes up.
func turn(key client.ObjectKey, devices []quantumv1alpha1.Device, snap queueSnapshot) (
	dev *quantumv1alpha1.Device, before, after []string) {
	for _, a := range snap.plan() {
		switch {
		case a.Key == key.String():
			dev = deviceNamed(devices, a.Device)
		case dev == nil:
			before = append(before, a.Key)
		default:
			after = append(after, a.Key)
		}
	}
	return dev, before, after
}

// Forget drops an admission that was not written.
func (q *Queue) Forget(key client.ObjectKey) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.expect, key)
}

// Vacate records that a batch gave its device back (an idle open batch):
// its room counts as free from now on, even before the cache shows it.
func (q *Queue) Vacate(key client.ObjectKey) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.expect, key)
	q.vacated[key] = true
}

// Kick makes the batches of a device type that can start now reconcile.
// freed are batches that just finished: their room counts as free from now
// on, even before the cache shows them finished.
func (q *Queue) Kick(ctx context.Context, deviceType quantumv1alpha1.DeviceType, freed ...*quantumv1alpha1.Batch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, b := range freed {
		q.released[client.ObjectKeyFromObject(b)] = true
	}
	_, snap, err := q.snapshot(ctx, deviceType, nil)
	if err != nil {
		return err
	}
	for _, a := range snap.plan() {
		q.kick(a.Key)
	}
	return nil
}

func (q *Queue) kick(key string) {
	ns, name, _ := cutKey(key)
	ev := event.GenericEvent{Object: &quantumv1alpha1.Batch{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}
	select {
	case q.events <- ev:
	default:
		go func() { q.events <- ev }()
	}
}

// queueSnapshot is the queue of a device type as package scheduler takes it.
type queueSnapshot struct {
	items []scheduler.Item
	slots []scheduler.Slot
	usage map[string]scheduler.Usage // by project (namespace)
}

func (s queueSnapshot) plan() []scheduler.Assignment {
	return scheduler.Plan(s.items, s.slots, s.usage)
}

// snapshot reads the devices and batches of a type: the pending queue, each
// device's room, and each project's use of the devices (its running batches
// and its latest start, finished batches included). self, when given,
// replaces its cached copy.
func (q *Queue) snapshot(ctx context.Context, deviceType quantumv1alpha1.DeviceType, self *quantumv1alpha1.Batch) (
	[]quantumv1alpha1.Device, queueSnapshot, error) {
	devices := &quantumv1alpha1.DeviceList{}
	if err := q.client.List(ctx, devices, client.MatchingFields{deviceTypeIndex: string(deviceType)}); err != nil {
		return nil, queueSnapshot{}, err
	}
	// Read-only: the items share the cache's objects (no deep copy of every
	// batch of the device type on every admission).
	batches := &quantumv1alpha1.BatchList{}
	if err := q.client.List(ctx, batches, client.MatchingFields{batchDeviceTypeIndex: string(deviceType)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, queueSnapshot{}, err
	}
	list := batches.Items
	if self != nil {
		found := false
		for i := range list {
			if list[i].Namespace == self.Namespace && list[i].Name == self.Name {
				list[i], found = *self, true
			}
		}
		if !found {
			list = append(list, *self)
		}
	}
	running := map[string]int{}
	usage := map[string]scheduler.Usage{}
	seen := map[client.ObjectKey]bool{}
	depth := map[quantumv1alpha1.QueuePriority]int{}
	var items []scheduler.Item
	for i := range list {
		b := &list[i]
		key := client.ObjectKeyFromObject(b)
		seen[key] = true
		if st := b.Status.StartTime; st != nil {
			if u := usage[b.Namespace]; st.After(u.LastStart) {
				u.LastStart = st.Time
				usage[b.Namespace] = u
			}
		}
		if b.Status.Phase.Terminal() || b.DeletionTimestamp != nil {
			delete(q.expect, key)
			delete(q.released, key)
			continue
		}
		if q.released[key] {
			continue // finished; the cache does not show it yet
		}
		if q.vacated[key] {
			if b.Status.DeviceID != "" {
				continue // gave its device back; the cache does not show it yet
			}
			delete(q.vacated, key)
		}
		if waitingReason(b) == reasonIdle && (self == nil || key != client.ObjectKeyFromObject(self)) {
			continue // an idle open batch queues again when its own reconciliation sees a job
		}
		dev := b.Status.DeviceID
		if dev != "" {
			delete(q.expect, key)
		} else {
			dev = q.expect[key]
		}
		if dev != "" {
			running[dev]++
			u := usage[b.Namespace]
			u.Running++
			usage[b.Namespace] = u
			continue
		}
		depth[queuePriority(b)]++
		if !b.Spec.Canceled && meta.IsStatusConditionTrue(b.Status.Conditions, quantumv1alpha1.ConditionJobsCreated) {
			items = append(items, scheduler.Item{
				Key: key.String(), Project: b.Namespace, QueuePriority: queuePriority(b),
				Priority: b.Spec.Priority, Created: b.CreationTimestamp.Time,
			})
		}
	}
	for key := range q.expect {
		if !seen[key] {
			delete(q.expect, key)
		}
	}
	for key := range q.released {
		if !seen[key] {
			delete(q.released, key)
		}
	}
	for key := range q.vacated {
		if !seen[key] {
			delete(q.vacated, key)
		}
	}
	for _, p := range []quantumv1alpha1.QueuePriority{quantumv1alpha1.QueuePriorityHigh, quantumv1alpha1.QueuePriorityMedium, quantumv1alpha1.QueuePriorityLow} {
		metrics.QueueDepth.WithLabelValues(string(deviceType), string(p)).Set(float64(depth[p]))
	}
	return devices.Items, queueSnapshot{items: items, slots: slotsOf(devices.Items, running), usage: usage}, nil
}

// slotsOf is the room of devices, running[name] batches running on each.
func slotsOf(devices []quantumv1alpha1.Device, running map[string]int) []scheduler.Slot {
	slots := make([]scheduler.Slot, 0, len(devices))
	for i := range devices {
		d := &devices[i]
		slots = append(slots, scheduler.Slot{
			Device: d.Name, Usable: scheduler.Usable(d),
			Capacity: scheduler.Capacity(d), Running: running[d.Name],
		})
	}
	return slots
}

// reserveQPU takes the QPU's Lease for the batch (runner generation 0) when
// it is free: absent, released, expired, or already the batch's.
func (q *Queue) reserveQPU(ctx context.Context, b *quantumv1alpha1.Batch, d *quantumv1alpha1.Device) (bool, time.Duration, error) {
	key := leaseKey(b, d, q.leaseNamespace)
	now := q.clock.Now()
	lease := &coordinationv1.Lease{}
	err := q.client.Get(ctx, key, lease)
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: leaseLabels()}}
		q.hold(lease, b, now)
		err = q.client.Create(ctx, lease)
		if apierrors.IsAlreadyExists(err) {
			return false, time.Second, nil
		}
		return err == nil, 0, err
	}
	if err != nil {
		return false, 0, err
	}
	if free, left := qpuFree(lease, client.ObjectKeyFromObject(b), now); !free {
		return false, left, nil
	}
	q.hold(lease, b, now)
	if err := q.client.Update(ctx, lease); err != nil {
		if apierrors.IsConflict(err) {
			return false, time.Second, nil
		}
		return false, 0, err
	}
	return true, 0, nil
}

func queuePriority(b *quantumv1alpha1.Batch) quantumv1alpha1.QueuePriority {
	if b.Spec.QueuePriority == "" {
		return quantumv1alpha1.QueuePriorityMedium
	}
	return b.Spec.QueuePriority
}

func deviceNamed(devices []quantumv1alpha1.Device, name string) *quantumv1alpha1.Device {
	for i := range devices {
		if devices[i].Name == name {
			return &devices[i]
		}
	}
	return nil
}

func cutKey(key string) (string, string, bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return "", key, false
}
