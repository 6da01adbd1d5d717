package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// The reasons of a queue position beside scheduler's Waiting ones (NoDevice,
// NoActiveDevice, DeviceDown, Queued).
const (
	// PositionRunning: the batch holds a device.
	PositionRunning = "Running"
	// PositionFinished: the batch is in a terminal status.
	PositionFinished = "Finished"
	// PositionCanceled: cancel was asked; the controller ends it.
	PositionCanceled = "Canceled"
	// PositionJobsNotCreated: the controller has not created its jobs yet.
	PositionJobsNotCreated = "JobsNotCreated"
	// PositionIdle: an open batch with nothing to run (the controllers'
	// Scheduled reason "Idle"); it queues again when a job is added.
	PositionIdle = "Idle"
)

// QueuePosition is where a batch stands in the queue of its device type.
type QueuePosition struct {
	BatchID       string  `json:"batch_id"`
	DeviceType    string  `json:"device_type" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63"`
	Status        string  `json:"status" enum:"PENDING,RUNNING,DONE,CANCELED,TIMED_OUT,ERROR,PAUSED"`
	QueuePriority string  `json:"queue_priority" enum:"LOW,MEDIUM,HIGH"`
	Priority      int32   `json:"priority"`
	Waiting       bool    `json:"waiting" doc:"True while the batch is in the queue, waiting for a device."`
	Position      *int    `json:"position" doc:"1 for the next batch to start on the device type; null when the batch is not in the queue."`
	QueueLength   int     `json:"queue_length" doc:"Batches of every project in the queue of the device type."`
	Reason        string  `json:"reason" enum:"Queued,NoDevice,NoActiveDevice,DeviceDown,Running,Finished,Canceled,JobsNotCreated,Idle"`
	Message       string  `json:"message" doc:"The reason, for people."`
	DeviceID      *string `json:"device_id" doc:"The device that runs the batch; null until it starts."`
	FreeSlots     int     `json:"free_slots" doc:"Batches the usable devices of the type could start now."`
}

// DeviceRunner is what a device runs now.
type DeviceRunner struct {
	DeviceID   string   `json:"device_id"`
	DeviceType string   `json:"device_type" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63"`
	Capacity   int      `json:"capacity" doc:"Batches the device runs at once (1 for a QPU)."`
	Running    int      `json:"running" doc:"Batches of every project that hold the device now."`
	BatchIDs   []string `json:"batch_ids" doc:"The running batches the caller may see (other projects' are only counted)."`
}

type queuePositionOut struct {
	Body envelope.Envelope[QueuePosition]
}

type deviceRunnerIn struct {
	DeviceID string `path:"device_id"`
}

type deviceRunnerOut struct {
	Body envelope.Envelope[DeviceRunner]
}

func (h *Handlers) registerQueueVisibility(api huma.API) {
	huma.Register(api, h.op("batch-queue-position", http.MethodGet, "/api/v1/batches/{batch_id}/queue_position", "batches",
		"Where a batch stands in the queue of its device type, and why it waits"), h.queuePosition)
	huma.Register(api, h.op("device-runner", http.MethodGet, "/api/v1/devices/{device_id}/runner", "devices",
		"The batches a device runs now"), h.deviceRunner)
}

func (h *Handlers) queuePosition(ctx context.Context, in *BatchIDPath) (*queuePositionOut, error) {
	b, err := h.batchFor(ctx, in.BatchID, "get", "")
	if err != nil {
		return nil, err
	}
	all, err := h.devices(ctx)
	if err != nil {
		return nil, internal(err)
	}
	var devs []quantumv1alpha1.Device
	for i := range all {
		if all[i].Spec.DeviceType == b.Spec.DeviceType {
			devs = append(devs, all[i])
		}
	}
	unfinished, err := h.unfinished(b.Spec.DeviceType)
	if err != nil {
		return nil, internal(err)
	}
	finished, err := h.finishedOfProjects(b, unfinished)
	if err != nil {
		return nil, internal(err)
	}
	return &queuePositionOut{Body: envelope.OK(PositionOf(b, append(unfinished, finished...), devs))}, nil
}

// finishedOfProjects are the cached finished batches of b's device type in
// the projects of b and of the unfinished batches: the queue's fair share
// counts when each project last started a batch.
func (h *Handlers) finishedOfProjects(b *quantumv1alpha1.Batch, unfinished []*quantumv1alpha1.Batch) ([]*quantumv1alpha1.Batch, error) {
	dt := b.Spec.DeviceType
	projects := []string{b.Namespace}
	seen := map[string]bool{b.Namespace: true}
	for _, o := range unfinished {
		if !seen[o.Namespace] {
			seen[o.Namespace] = true
			projects = append(projects, o.Namespace)
		}
	}
	var out []*quantumv1alpha1.Batch
	for _, ns := range projects {
		list, err := h.batchesBy(IndexNamespace, ns)
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			if o.Spec.DeviceType == dt && o.Status.Phase.Terminal() && o.Status.StartTime != nil {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// unfinished are the cached batches of a device type that are not terminal.
func (h *Handlers) unfinished(dt quantumv1alpha1.DeviceType) ([]*quantumv1alpha1.Batch, error) {
	var out []*quantumv1alpha1.Batch
	for _, phase := range []quantumv1alpha1.BatchStatus{quantumv1alpha1.BatchPending, quantumv1alpha1.BatchPaused, quantumv1alpha1.BatchRunning} {
		list, err := h.batchesBy(IndexPhase, string(phase))
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			if o.Spec.DeviceType == dt {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// queued reports whether a batch is in its device type's queue, as the
// manager's queue counts it: not finished, not started, not canceled, its
// jobs created, and not an idle open batch.
func queued(b *quantumv1alpha1.Batch) bool {
	if b.Status.Phase.Terminal() || b.DeletionTimestamp != nil || b.Status.DeviceID != "" || b.Spec.Canceled {
		return false
	}
	if !apimeta.IsStatusConditionTrue(b.Status.Conditions, quantumv1alpha1.ConditionJobsCreated) {
		return false
	}
	c := apimeta.FindStatusCondition(b.Status.Conditions, quantumv1alpha1.ConditionScheduled)
	return c == nil || c.Status == metav1.ConditionTrue || c.Reason != PositionIdle
}

func queueItem(b *quantumv1alpha1.Batch) scheduler.Item {
	qp := b.Spec.QueuePriority
	if qp == "" {
		qp = quantumv1alpha1.QueuePriorityMedium
	}
	return scheduler.Item{Key: b.Namespace + "/" + b.Name, Project: b.Namespace, QueuePriority: qp, Priority: b.Spec.Priority, Created: b.CreationTimestamp.Time}
}

// PositionOf places batch b among the batches of its device type (b among
// them or not) on the type's devices, in the order of package scheduler,
// which the manager's queue follows: the unfinished batches queue or run,
// and every batch's start time gives its project's last start (the fair
// share's tie-break), so batches holds the unfinished ones and those
// finished in the projects concerned. It is pure.
func PositionOf(b *quantumv1alpha1.Batch, batches []*quantumv1alpha1.Batch, devices []quantumv1alpha1.Device) QueuePosition {
	qp := queueItem(b).QueuePriority
	out := QueuePosition{
		BatchID: b.Name, DeviceType: string(b.Spec.DeviceType), Status: restdoc.BatchPhase(b),
		QueuePriority: string(qp), Priority: b.Spec.Priority,
	}
	key := b.Namespace + "/" + b.Name
	running := map[string]int{}
	usage := map[string]scheduler.Usage{}
	var items []scheduler.Item
	count := func(o *quantumv1alpha1.Batch) {
		u := usage[o.Namespace]
		if o.Status.StartTime != nil && o.Status.StartTime.After(u.LastStart) {
			u.LastStart = o.Status.StartTime.Time
		}
		if o.Status.DeviceID != "" && !o.Status.Phase.Terminal() {
			running[o.Status.DeviceID]++
			u.Running++
		}
		usage[o.Namespace] = u
		if queued(o) {
			items = append(items, queueItem(o))
		}
	}
	for _, o := range batches {
		if o.Namespace+"/"+o.Name != key {
			count(o)
		}
	}
	count(b)
	items = scheduler.Order(items, usage)
	out.QueueLength = len(items)
	for i := range devices {
		d := &devices[i]
		out.FreeSlots += scheduler.Slot{Device: d.Name, Usable: scheduler.Usable(d), Capacity: scheduler.Capacity(d), Running: running[d.Name]}.Free()
	}
	dt := b.Spec.DeviceType
	switch {
	case b.Status.Phase.Terminal():
		out.Reason, out.Message = PositionFinished, "the batch is "+out.Status
	case b.Status.DeviceID != "":
		id := b.Status.DeviceID
		out.DeviceID = &id
		out.Reason, out.Message = PositionRunning, "runs on device "+id
	case b.Spec.Canceled:
		out.Reason, out.Message = PositionCanceled, "cancel was asked; the controller ends the batch"
	case !apimeta.IsStatusConditionTrue(b.Status.Conditions, quantumv1alpha1.ConditionJobsCreated):
		out.Reason, out.Message = PositionJobsNotCreated, "the controller has not created its jobs yet"
	case !queued(b):
		out.Reason, out.Message = PositionIdle, "an open batch with no job to run: it queues again when a job is added"
	default:
		pos := slices.IndexFunc(items, func(it scheduler.Item) bool { return it.Key == key }) + 1
		out.Waiting, out.Position = true, &pos
		why := scheduler.Why(devices)
		out.Reason = string(why)
		switch why {
		case scheduler.WaitingNoDevice:
			out.Message = fmt.Sprintf("no device of type %s exists", dt)
		case scheduler.WaitingNoActiveDevice:
			out.Message = fmt.Sprintf("every device of type %s is inactive", dt)
		case scheduler.WaitingDeviceDown:
			out.Message = fmt.Sprintf("every device of type %s is DOWN", dt)
		default:
			out.Message = queuedMessage(pos, items, out.FreeSlots, dt)
		}
	}
	return out
}

// queuedMessage says why a queued batch at pos (1-based) in items waits.
func queuedMessage(pos int, items []scheduler.Item, free int, dt quantumv1alpha1.DeviceType) string {
	ahead := pos - 1
	if ahead == 0 {
		if free == 0 {
			return fmt.Sprintf("next to start: every %s device is busy", dt)
		}
		return "next to start: a device has room, the manager is starting it"
	}
	higher := 0
	rank := items[pos-1].QueuePriority.Rank()
	for _, it := range items[:ahead] {
		if it.QueuePriority.Rank() > rank {
			higher++
		}
	}
	msg := fmt.Sprintf("%d batch(es) ahead of it on %s", ahead, dt)
	if higher > 0 {
		msg += fmt.Sprintf(" (%d of a higher queue priority)", higher)
	}
	return msg
}

func (h *Handlers) deviceRunner(ctx context.Context, in *deviceRunnerIn) (*deviceRunnerOut, error) {
	if err := h.canReadDevices(ctx); err != nil {
		return nil, err
	}
	all, err := h.devices(ctx)
	if err != nil {
		return nil, internal(err)
	}
	i := slices.IndexFunc(all, func(d quantumv1alpha1.Device) bool { return d.Name == in.DeviceID })
	if i < 0 {
		return nil, envelope.NotFound("device", in.DeviceID)
	}
	d := &all[i]
	unfinished, err := h.unfinished(d.Spec.DeviceType)
	if err != nil {
		return nil, internal(err)
	}
	out := DeviceRunner{DeviceID: d.Name, DeviceType: string(d.Spec.DeviceType), Capacity: scheduler.Capacity(d), BatchIDs: []string{}}
	for _, b := range unfinished {
		if b.Status.DeviceID != d.Name {
			continue
		}
		out.Running++
		ok, err := h.allowed(ctx, b.Namespace, "get", "batches", "")
		if err != nil {
			return nil, internal(err)
		}
		if ok {
			out.BatchIDs = append(out.BatchIDs, b.Name)
		}
	}
	slices.Sort(out.BatchIDs)
	return &deviceRunnerOut{Body: envelope.OK(out)}, nil
}
