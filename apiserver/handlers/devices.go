package handlers

import (
	"context"
	"net/http"
	"slices"

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
	DeviceType         string   `json:"device_type" enum:"EMU_FREE,EMU_SV,EMU_TN,EMU_C,FRESNEL,EMU_FRESNEL,EMU_MPS"`
	Specs              string   `json:"specs,omitempty" maxLength:"262144" doc:"Serialized Pulser device; empty serves the built-in catalog's device for the type."`
	IsEmulator         bool     `json:"is_emulator,omitempty"`
	HasExecutionLogs   bool     `json:"has_execution_logs,omitempty"`
	Active             *bool    `json:"active,omitempty" doc:"Default true."`
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
	DeviceTypeNames []string `json:"device_type_names" minItems:"1" enum:"EMU_FREE,EMU_SV,EMU_TN,EMU_C,FRESNEL,EMU_FRESNEL,EMU_MPS"`
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

// Queue is the waiting work of a device type, by queue priority.
type Queue struct {
	DeviceType     string         `json:"device_type"`
	PendingBatches map[string]int `json:"pending_batches" doc:"Pending batches by queue priority."`
	PendingJobs    map[string]int `json:"pending_jobs" doc:"Pending jobs of those batches by queue priority."`
	TotalBatches   int            `json:"total_batches"`
	TotalJobs      int            `json:"total_jobs"`
}

type deviceListIn struct {
	IncludeLegacy bool `query:"include_legacy" doc:"Also list inactive devices."`
	Limit         int  `query:"limit" default:"100" minimum:"0" maximum:"100"`
	Offset        int  `query:"offset" default:"0" minimum:"0"`
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

type devicePage struct {
	Body envelope.Page[restdoc.Device]
}

func (h *Handlers) listDevices(ctx context.Context, in *deviceListIn) (*devicePage, error) {
	if err := h.canReadDevices(ctx); err != nil {
		return nil, err
	}
	all, err := h.devices(ctx)
	if err != nil {
		return nil, internal(err)
	}
	var docs []*restdoc.Device
	for i := range all {
		if all[i].IsActive() || in.IncludeLegacy {
			d := restdoc.DeviceFrom(&all[i], specsOf(&all[i]))
			docs = append(docs, &d)
		}
	}
	return &devicePage{Body: envelope.NewPage(query.Window(docs, in.Offset, in.Limit), in.Offset, len(docs))}, nil
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
	return &deviceOut{Body: envelope.OK(restdoc.DeviceFrom(d, specsOf(d)))}, nil
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
	return &deviceOut{Body: envelope.OK(restdoc.DeviceFrom(&d, specsOf(&d)))}, nil
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
		out = append(out, restdoc.DeviceFrom(d, specsOf(d)))
	}
	return &devicesOut{Body: envelope.OK(out)}, nil
}

// DeviceTypePath is the device type of a route.
type DeviceTypePath struct {
	DeviceType string `path:"device_type" enum:"EMU_FREE,EMU_SV,EMU_TN,EMU_C,FRESNEL,EMU_FRESNEL,EMU_MPS"`
}

type queueIn struct {
	DeviceType string `path:"dt_name" enum:"EMU_FREE,EMU_SV,EMU_TN,EMU_C,FRESNEL,EMU_FRESNEL,EMU_MPS"`
}

type queueOut struct {
	Body envelope.Envelope[Queue]
}

func (h *Handlers) deviceQueue(ctx context.Context, in *queueIn) (*queueOut, error) {
	if err := h.canReadDevices(ctx); err != nil {
		return nil, err
	}
	pending, err := h.batchesBy(IndexPhase, string(quantumv1alpha1.BatchPending))
	if err != nil {
		return nil, internal(err)
	}
	q := Queue{DeviceType: in.DeviceType, PendingBatches: map[string]int{}, PendingJobs: map[string]int{}}
	for _, p := range []quantumv1alpha1.QueuePriority{quantumv1alpha1.QueuePriorityLow, quantumv1alpha1.QueuePriorityMedium, quantumv1alpha1.QueuePriorityHigh} {
		q.PendingBatches[string(p)] = 0
		q.PendingJobs[string(p)] = 0
	}
	for _, b := range pending {
		if string(b.Spec.DeviceType) != in.DeviceType || b.Spec.Canceled {
			continue
		}
		qp := string(b.Spec.QueuePriority)
		if qp == "" {
			qp = string(quantumv1alpha1.QueuePriorityMedium)
		}
		jobs, err := h.batchJobs(b)
		if err != nil {
			return nil, internal(err)
		}
		n := 0
		for _, j := range jobs {
			if restdoc.JobPhase(j) == string(quantumv1alpha1.JobPending) {
				n++
			}
		}
		q.PendingBatches[qp]++
		q.PendingJobs[qp] += n
		q.TotalBatches++
		q.TotalJobs += n
	}
	return &queueOut{Body: envelope.OK(q)}, nil
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
