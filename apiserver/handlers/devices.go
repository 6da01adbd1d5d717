package handlers

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/apiserver/query"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// CreateDeviceBody is the body of POST /api/v1/devices.
type CreateDeviceBody struct {
	_                  struct{} `additionalProperties:"true"`
	Status             string   `json:"status,omitempty" enum:"UP,DOWN" default:"UP"`
	DeviceType         string   `json:"device_type" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63"`
	Specs              string   `json:"specs,omitempty" maxLength:"262144" doc:"Serialized Pulser device; empty serves the built-in catalog's device for the type."`
	IsEmulator         bool     `json:"is_emulator,omitempty"`
	HasExecutionLogs   bool     `json:"has_execution_logs,omitempty"`
	Active             *bool    `json:"active,omitempty" doc:"Default true."`
	Legacy             bool     `json:"legacy,omitempty" doc:"Kept for old clients: listed only with include_legacy=true."`
	Public             bool     `json:"public,omitempty" doc:"Serve the specs without authentication."`
	AllowedResultTypes []string `json:"allowed_result_types,omitempty" uniqueItems:"true" enum:"counter,run,sample,expectation"`
	DefaultResultTypes []string `json:"default_result_types,omitempty" uniqueItems:"true" enum:"counter,run,sample,expectation"`
}

// DeviceStatusBody sets a device's status.
type DeviceStatusBody struct {
	Status string `json:"status" enum:"UP,DOWN"`
}

// DevicesStatusBody sets the status of every device of some types.
type DevicesStatusBody struct {
	DeviceTypeNames []string `json:"device_type_names" minItems:"1" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63"`
	Status          string   `json:"status" enum:"UP,DOWN"`
}

// DeviceSpecs is the specs of a device type.
type DeviceSpecs struct {
	DeviceType string `json:"device_type"`
	Specs      string `json:"specs" doc:"Serialized Pulser device (JSON)."`
}

// SpecsBody replaces the specs of every device of a type.
type SpecsBody struct {
	Specs string `json:"specs" maxLength:"262144"`
}

// DeviceQueues is the waiting work of a device type, one entry per queue priority.
type DeviceQueues struct {
	DeviceQueues []DeviceQueue `json:"device_queues"`
}

// DeviceQueue is the waiting work of one queue priority: the batches not yet
// finished that still have PENDING jobs (a RUNNING batch's PENDING jobs wait
// too), and those jobs and their shots.
type DeviceQueue struct {
	Queue           string `json:"queue" enum:"HIGH,MEDIUM,LOW"`
	NumberOfBatches int    `json:"number_of_batches"`
	NumberOfJobs    int    `json:"number_of_jobs"`
	NumberOfShots   int64  `json:"number_of_shots"`
}

type deviceListIn struct {
	IncludeLegacy  bool   `query:"include_legacy" doc:"Also list legacy devices (kept for old clients). Inactive devices are never listed."`
	OrderBy        string `query:"order_by" default:"created_at" enum:"created_at,updated_at,id,name,device_type,status"`
	OrderDirection string `query:"order_by_direction" default:"DESC" enum:"ASC,DESC"`
	Limit          int    `query:"limit" default:"100" minimum:"1" maximum:"100"`
	Offset         int    `query:"offset" default:"0" minimum:"0"`
}

type deviceOut struct {
	Body envelope.Envelope[restdoc.Device]
}

type devicesOut struct {
	Body envelope.Envelope[[]restdoc.Device]
}

func (h *Handlers) registerDevices(api huma.API) {
	huma.Register(api, h.op("list-devices", http.MethodGet, "/api/v1/devices", "devices", "List devices"), h.listDevices)
	huma.Register(api, h.op("create-device", http.MethodPost, "/api/v1/devices", "devices", "Create a device (superuser)"), h.createDevice)
	huma.Register(api, h.op("set-device-status", http.MethodPatch, "/api/v1/devices/{device_id}/status", "devices", "Set a device UP or DOWN (superuser)"), h.setDeviceStatus)
	huma.Register(api, h.op("set-devices-status", http.MethodPatch, "/api/v1/devices/status", "devices", "Set every device of some types UP or DOWN (superuser)"), h.setDevicesStatus)
	huma.Register(api, h.op("device-queue", http.MethodGet, "/api/v1/devices/{dt_name}/queue", "devices", "Pending work of a device type"), h.deviceQueue)
	huma.Register(api, h.op("devices-specs", http.MethodGet, "/api/v1/devices/specs", "devices", "Specs of every active device type"), h.devicesSpecs)
	public := h.op("public-devices-specs", http.MethodGet, "/api/v1/devices/public-specs", "devices", "Specs of the public devices (no token needed)")
	public.Metadata = map[string]any{MetaAuth: "none"}
	public.Security = nil
	public.Errors = nil
	huma.Register(api, public, h.publicSpecs)
	huma.Register(api, h.op("device-type-specs", http.MethodGet, "/api/v1/devices/specs/{device_type}", "devices", "Specs of a device type"), h.deviceTypeSpecs)
	huma.Register(api, h.op("set-device-type-specs", http.MethodPatch, "/api/v1/devices/specs/{device_type}", "devices", "Replace the specs of a device type (superuser)"), h.setDeviceTypeSpecs)
}

// canReadDevices: devices are cluster-scoped; a project member reads them
// through the devices rule of tweezer-user bound in the project's namespace.
func (h *Handlers) canReadDevices(ctx context.Context) error {
	if ok, err := h.allowed(ctx, "", "list", "devices", ""); err != nil {
		return internal(err)
	} else if ok {
		return nil
	}
	projects, err := h.projects(ctx, "list", "devices")
	if err != nil {
		return internal(err)
	}
	if len(projects) == 0 {
		return envelope.Errorf(http.StatusForbidden, "%s may not list devices", user(ctx).Name)
	}
	return nil
}

func (h *Handlers) superuser(ctx context.Context, verb string) error {
	ok, err := h.allowed(ctx, "", verb, "devices", "")
	if err != nil {
		return internal(err)
	}
	if !ok {
		return envelope.Errorf(http.StatusForbidden, "%s is not a superuser (may not %s devices)", user(ctx).Name, verb)
	}
	return nil
}

func (h *Handlers) devices(ctx context.Context) ([]quantumv1alpha1.Device, error) {
	var list quantumv1alpha1.DeviceList
	if err := h.Cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	slices.SortFunc(list.Items, func(a, b quantumv1alpha1.Device) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return list.Items, nil
}

// knownDeviceType refuses, naming field, a device type that is neither one
// the API documents nor one some Device declares. Device types are an open
// set: a platform team adds one (FRESNEL_CAN1, say) by creating its Device.
// A documented type without a Device is taken; its batch waits PENDING with
// the reason NoDevice, as one made with kubectl does.
func (h *Handlers) knownDeviceType(ctx context.Context, t quantumv1alpha1.DeviceType, field string) error {
	if slices.Contains(quantumv1alpha1.DeviceTypes, t) {
		return nil
	}
	all, err := h.devices(ctx)
	if err != nil {
		return internal(err)
	}
	known := map[string]bool{}
	for _, dt := range quantumv1alpha1.DeviceTypes {
		known[string(dt)] = true
	}
	for i := range all {
		if all[i].Spec.DeviceType == t {
			return nil
		}
		known[string(all[i].Spec.DeviceType)] = true
	}
	return envelope.Invalid(fmt.Sprintf("unknown device type %s: no Device declares it (known: %s)", t, strings.Join(slices.Sorted(maps.Keys(known)), ", ")), "body", field)
}

type devicePage struct {
	Body envelope.Page[restdoc.Device]
}

func (h *Handlers) listDevices(ctx context.Context, in *deviceListIn) (*devicePage, error) {
	if err := h.canReadDevices(ctx); err != nil {
		return nil, err
	}
	desc, err := query.Direction(in.OrderDirection)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "query", "order_by_direction")
	}
	by, ok := deviceOrder[in.OrderBy]
	if !ok {
		return nil, envelope.Invalid("must be one of created_at, updated_at, id, name, device_type, status", "query", "order_by")
	}
	all, err := h.devices(ctx)
	if err != nil {
		return nil, internal(err)
	}
	waits := h.queueTimes()
	var docs []*restdoc.Device
	for i := range all {
		if all[i].IsActive() && (!all[i].Spec.Legacy || in.IncludeLegacy) {
			d := h.deviceDoc(&all[i], waits)
			docs = append(docs, &d)
		}
	}
	// h.devices orders by creation then id: a stable sort keeps that order
	// between equal keys, and DESC reverses it as a whole.
	slices.SortStableFunc(docs, func(a, b *restdoc.Device) int { return by(a, b) })
	if desc {
		slices.Reverse(docs)
	}
	return &devicePage{Body: envelope.NewPage(query.Window(docs, in.Offset, in.Limit), in.Offset, len(docs))}, nil
}

// deviceOrder are the device list's order_by keys; created_at is h.devices' own order.
var deviceOrder = map[string]func(a, b *restdoc.Device) int{
	"created_at":  func(a, b *restdoc.Device) int { return 0 },
	"updated_at":  func(a, b *restdoc.Device) int { return strings.Compare(a.UpdatedAt, b.UpdatedAt) },
	"id":          func(a, b *restdoc.Device) int { return strings.Compare(a.ID, b.ID) },
	"name":        func(a, b *restdoc.Device) int { return strings.Compare(a.Name, b.Name) },
	"device_type": func(a, b *restdoc.Device) int { return strings.Compare(a.DeviceType, b.DeviceType) },
	"status":      func(a, b *restdoc.Device) int { return strings.Compare(a.Status, b.Status) },
}

// queueTimes is, per device name, the mean time in seconds that the
// batches which ran on it waited between their creation and their start.
func (h *Handlers) queueTimes() map[string]float64 {
	type acc struct {
		sum float64
		n   int
	}
	by := map[string]*acc{}
	for _, o := range h.Batches.List() {
		b, ok := o.(*quantumv1alpha1.Batch)
		if !ok || b.Status.DeviceID == "" || b.Status.StartTime == nil {
			continue
		}
		a := by[b.Status.DeviceID]
		if a == nil {
			a = &acc{}
			by[b.Status.DeviceID] = a
		}
		a.sum += max(0, b.Status.StartTime.Sub(b.CreationTimestamp.Time).Seconds())
		a.n++
	}
	out := make(map[string]float64, len(by))
	for name, a := range by {
		out[name] = a.sum / float64(a.n)
	}
	return out
}

// deviceDoc maps a device with its mean queue time (waits from queueTimes; nil skips it).
func (h *Handlers) deviceDoc(d *quantumv1alpha1.Device, waits map[string]float64) restdoc.Device {
	var wait *float64
	if w, ok := waits[d.Name]; ok {
		wait = &w
	}
	return restdoc.DeviceFrom(d, specsOf(d), wait)
}

type createDeviceIn struct {
	Body CreateDeviceBody
}

func (h *Handlers) createDevice(ctx context.Context, in *createDeviceIn) (*deviceOut, error) {
	if err := h.superuser(ctx, "create"); err != nil {
		return nil, err
	}
	b := &in.Body
	d := &quantumv1alpha1.Device{
		ObjectMeta: metav1.ObjectMeta{Name: uuid.NewString()},
		Spec: quantumv1alpha1.DeviceSpec{
			DeviceType:       quantumv1alpha1.DeviceType(b.DeviceType),
			Availability:     quantumv1alpha1.DeviceAvailability(b.Status),
			Active:           b.Active,
			Legacy:           b.Legacy,
			Public:           b.Public,
			Specs:            b.Specs,
			IsEmulator:       b.IsEmulator,
			HasExecutionLogs: b.HasExecutionLogs,
		},
	}
	for _, t := range b.AllowedResultTypes {
		d.Spec.AllowedResultTypes = append(d.Spec.AllowedResultTypes, quantumv1alpha1.ResultsType(t))
	}
	for _, t := range b.DefaultResultTypes {
		d.Spec.DefaultResultTypes = append(d.Spec.DefaultResultTypes, quantumv1alpha1.ResultsType(t))
	}
	if err := h.Client.Create(ctx, d); err != nil {
		return nil, writeErr(err, "body")
	}
	h.await(ctx, d)
	return &deviceOut{Body: envelope.OK(h.deviceDoc(d, nil))}, nil
}

type deviceStatusIn struct {
	DeviceID string `path:"device_id"`
	Body     DeviceStatusBody
}

func (h *Handlers) setDeviceStatus(ctx context.Context, in *deviceStatusIn) (*deviceOut, error) {
	if err := h.superuser(ctx, "update"); err != nil {
		return nil, err
	}
	var d quantumv1alpha1.Device
	if err := h.Cache.Get(ctx, client.ObjectKey{Name: in.DeviceID}, &d); err != nil {
		return nil, envelope.NotFound("device", in.DeviceID)
	}
	if err := h.patchDevice(ctx, &d, func(d *quantumv1alpha1.Device) {
		d.Spec.Availability = quantumv1alpha1.DeviceAvailability(in.Body.Status)
	}); err != nil {
		return nil, err
	}
	return &deviceOut{Body: envelope.OK(h.deviceDoc(&d, h.queueTimes()))}, nil
}

func (h *Handlers) patchDevice(ctx context.Context, d *quantumv1alpha1.Device, change func(*quantumv1alpha1.Device)) error {
	orig := d.DeepCopy()
	change(d)
	if err := h.Client.Patch(ctx, d, client.MergeFrom(orig)); err != nil {
		return writeErr(err, "body")
	}
	h.await(ctx, d)
	return nil
}

type devicesStatusIn struct {
	Body DevicesStatusBody
}

func (h *Handlers) setDevicesStatus(ctx context.Context, in *devicesStatusIn) (*devicesOut, error) {
	if err := h.superuser(ctx, "update"); err != nil {
		return nil, err
	}
	all, err := h.devices(ctx)
	if err != nil {
		return nil, internal(err)
	}
	out := []restdoc.Device{}
	waits := h.queueTimes()
	for i := range all {
		if !slices.Contains(in.Body.DeviceTypeNames, string(all[i].Spec.DeviceType)) {
			continue
		}
		d := all[i].DeepCopy()
		if err := h.patchDevice(ctx, d, func(d *quantumv1alpha1.Device) {
			d.Spec.Availability = quantumv1alpha1.DeviceAvailability(in.Body.Status)
		}); err != nil {
			return nil, err
		}
		out = append(out, h.deviceDoc(d, waits))
	}
	return &devicesOut{Body: envelope.OK(out)}, nil
}

// DeviceTypePath is the device type of a route.
type DeviceTypePath struct {
	DeviceType string `path:"device_type" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63"`
}

type queueIn struct {
	DeviceType string `path:"dt_name" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63"`
}

type queueOut struct {
	Body envelope.Envelope[DeviceQueues]
}

func (h *Handlers) deviceQueue(ctx context.Context, in *queueIn) (*queueOut, error) {
	if err := h.canReadDevices(ctx); err != nil {
		return nil, err
	}
	priorities := []quantumv1alpha1.QueuePriority{quantumv1alpha1.QueuePriorityHigh, quantumv1alpha1.QueuePriorityMedium, quantumv1alpha1.QueuePriorityLow}
	queues := map[quantumv1alpha1.QueuePriority]*DeviceQueue{}
	out := DeviceQueues{DeviceQueues: make([]DeviceQueue, len(priorities))}
	for i, p := range priorities {
		out.DeviceQueues[i].Queue = string(p)
		queues[p] = &out.DeviceQueues[i]
	}
	for _, phase := range []quantumv1alpha1.BatchStatus{quantumv1alpha1.BatchPending, quantumv1alpha1.BatchPaused, quantumv1alpha1.BatchRunning} {
		batches, err := h.batchesBy(IndexPhase, string(phase))
		if err != nil {
			return nil, internal(err)
		}
		for _, b := range batches {
			if string(b.Spec.DeviceType) != in.DeviceType || b.Spec.Canceled {
				continue
			}
			jobs, err := h.batchJobs(b)
			if err != nil {
				return nil, internal(err)
			}
			q := queues[b.Spec.QueuePriority]
			if q == nil {
				q = queues[quantumv1alpha1.QueuePriorityMedium]
			}
			waiting := 0
			for _, j := range jobs {
				if restdoc.JobPhase(j) == string(quantumv1alpha1.JobPending) && !j.Spec.Canceled {
					waiting++
					q.NumberOfShots += int64(j.Spec.Runs)
				}
			}
			// A PENDING batch waits even before its jobs exist; a started
			// one waits only for its PENDING jobs.
			if waiting > 0 || phase != quantumv1alpha1.BatchRunning {
				q.NumberOfBatches++
			}
			q.NumberOfJobs += waiting
		}
	}
	return &queueOut{Body: envelope.OK(out)}, nil
}

// typeSpecs maps each device type with an active (and, when public, public)
// device to its specs; the first device of a type wins.
func (h *Handlers) typeSpecs(ctx context.Context, publicOnly bool) ([]DeviceSpecs, error) {
	all, err := h.devices(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []DeviceSpecs{}
	for i := range all {
		d := &all[i]
		t := string(d.Spec.DeviceType)
		if !d.IsActive() || (publicOnly && !d.Spec.Public) || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, DeviceSpecs{DeviceType: t, Specs: specsOf(d)})
	}
	return out, nil
}

type specsMapOut struct {
	Body envelope.Envelope[map[string]string]
}

func (h *Handlers) devicesSpecs(ctx context.Context, _ *struct{}) (*specsMapOut, error) {
	if err := h.canReadDevices(ctx); err != nil {
		return nil, err
	}
	specs, err := h.typeSpecs(ctx, false)
	if err != nil {
		return nil, internal(err)
	}
	out := map[string]string{}
	for _, s := range specs {
		out[s.DeviceType] = s.Specs
	}
	return &specsMapOut{Body: envelope.OK(out)}, nil
}

type specsListOut struct {
	Body envelope.Envelope[[]DeviceSpecs]
}

func (h *Handlers) publicSpecs(ctx context.Context, _ *struct{}) (*specsListOut, error) {
	specs, err := h.typeSpecs(ctx, true)
	if err != nil {
		return nil, internal(err)
	}
	return &specsListOut{Body: envelope.OK(specs)}, nil
}

type specsOut struct {
	Body envelope.Envelope[DeviceSpecs]
}

func (h *Handlers) deviceTypeSpecs(ctx context.Context, in *DeviceTypePath) (*specsOut, error) {
	if err := h.canReadDevices(ctx); err != nil {
		return nil, err
	}
	specs, err := h.typeSpecs(ctx, false)
	if err != nil {
		return nil, internal(err)
	}
	for _, s := range specs {
		if s.DeviceType == in.DeviceType {
			return &specsOut{Body: envelope.OK(s)}, nil
		}
	}
	return nil, envelope.Errorf(http.StatusNotFound, "no active device of type %s", in.DeviceType)
}

type setSpecsIn struct {
	DeviceTypePath
	Body SpecsBody
}

func (h *Handlers) setDeviceTypeSpecs(ctx context.Context, in *setSpecsIn) (*specsOut, error) {
	if err := h.superuser(ctx, "update"); err != nil {
		return nil, err
	}
	all, err := h.devices(ctx)
	if err != nil {
		return nil, internal(err)
	}
	found := false
	for i := range all {
		if string(all[i].Spec.DeviceType) != in.DeviceType {
			continue
		}
		found = true
		d := all[i].DeepCopy()
		if err := h.patchDevice(ctx, d, func(d *quantumv1alpha1.Device) { d.Spec.Specs = in.Body.Specs }); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, envelope.Errorf(http.StatusNotFound, "no device of type %s", in.DeviceType)
	}
	return &specsOut{Body: envelope.OK(DeviceSpecs{DeviceType: in.DeviceType, Specs: in.Body.Specs})}, nil
}
