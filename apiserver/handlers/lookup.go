package handlers

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/apiserver/query"
	"github.com/tweezer-dev/tweezer/internal/devices"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
	"github.com/tweezer-dev/tweezer/internal/slimcache"
)

// Ids are names, and a name is unique only inside a namespace: a member of
// one project may create (with kubectl) an object named like another
// project's. An id therefore resolves only among the objects the caller may
// see; when the caller sees several (a superuser, a member of both
// projects), the oldest wins, so a name taken later never displaces the
// original for anyone.

// oldestFirst orders same-named objects: creation time, then namespace, then UID.
func oldestFirst[T client.Object](objs []T) {
	slices.SortFunc(objs, func(a, b T) int {
		if c := a.GetCreationTimestamp().Compare(b.GetCreationTimestamp().Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.GetNamespace(), b.GetNamespace()); c != 0 {
			return c
		}
		return strings.Compare(string(a.GetUID()), string(b.GetUID()))
	})
}

// firstVisible returns the oldest of objs that the caller may see (get, or
// for a worker holding only the subresource, verb on sub), or false.
func firstVisible[T client.Object](ctx context.Context, h *Handlers, objs []T, resource, verb, sub string) (T, bool, error) {
	oldestFirst(objs)
	for _, o := range objs {
		ok, err := h.allowed(ctx, o.GetNamespace(), "get", resource, "")
		if err == nil && !ok && sub != "" {
			ok, err = h.allowed(ctx, o.GetNamespace(), verb, resource, sub)
		}
		if err != nil {
			var zero T
			return zero, false, err
		}
		if ok {
			return o, true, nil
		}
	}
	var zero T
	return zero, false, nil
}

// batchFor finds a batch the caller may see and checks they may do verb (on
// sub) to it. The returned object is shared with the cache: copy it before
// changing it.
func (h *Handlers) batchFor(ctx context.Context, id, verb, sub string) (*quantumv1alpha1.Batch, error) {
	list, err := h.batchesBy(IndexName, id)
	if err != nil {
		return nil, internal(err)
	}
	b, ok, err := firstVisible(ctx, h, list, "batches", verb, sub)
	if err != nil {
		return nil, internal(err)
	}
	notFound := envelope.NotFound("batch", id)
	if !ok {
		return nil, notFound
	}
	if err := h.access(ctx, b.Namespace, verb, "batches", sub, notFound); err != nil {
		return nil, err
	}
	return b, nil
}

// jobFor finds a job the caller may see and checks they may do verb (on sub)
// to it. The returned object is shared with the cache: copy it before
// changing it.
func (h *Handlers) jobFor(ctx context.Context, id, verb, sub string) (*quantumv1alpha1.Job, error) {
	list, err := h.jobsBy(IndexName, id)
	if err != nil {
		return nil, internal(err)
	}
	j, ok, err := firstVisible(ctx, h, list, "jobs", verb, sub)
	if err != nil {
		return nil, internal(err)
	}
	notFound := envelope.NotFound("job", id)
	if !ok {
		return nil, notFound
	}
	if err := h.access(ctx, j.Namespace, verb, "jobs", sub, notFound); err != nil {
		return nil, err
	}
	return j, nil
}

// batchJobs returns the cached jobs of a batch in creation order.
func (h *Handlers) batchJobs(b *quantumv1alpha1.Batch) ([]*quantumv1alpha1.Job, error) {
	out, err := h.jobsBy(IndexBatch, b.Namespace+"/"+b.Name)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *quantumv1alpha1.Job) int {
		if a.Spec.CreationOrder != b.Spec.CreationOrder {
			return int(a.Spec.CreationOrder) - int(b.Spec.CreationOrder)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// childIDs are the batches rebatched from b.
func (h *Handlers) childIDs(b *quantumv1alpha1.Batch) ([]string, error) {
	list, err := h.batchesBy(IndexParent, b.Namespace+"/"+b.Name)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, c := range list {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out, nil
}

// deviceStatuses gives, per device type, the availability of its devices:
// UP when an active device of the type is UP, else DOWN when there is one.
type deviceStatuses struct {
	byName map[string]string
	byType map[string]string
}

func (h *Handlers) deviceStatuses(ctx context.Context) (*deviceStatuses, error) {
	var list quantumv1alpha1.DeviceList
	if err := h.Cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	ds := &deviceStatuses{byName: map[string]string{}, byType: map[string]string{}}
	for i := range list.Items {
		d := &list.Items[i]
		st := string(d.Spec.Availability)
		if st == "" {
			st = string(quantumv1alpha1.DeviceUp)
		}
		ds.byName[d.Name] = st
		if !d.IsActive() {
			continue
		}
		if ds.byType[string(d.Spec.DeviceType)] != string(quantumv1alpha1.DeviceUp) {
			ds.byType[string(d.Spec.DeviceType)] = st
		}
	}
	return ds, nil
}

func (ds *deviceStatuses) of(b *quantumv1alpha1.Batch) string {
	if st, ok := ds.byName[b.Status.DeviceID]; ok {
		return st
	}
	return ds.byType[string(b.Spec.DeviceType)]
}

// batchDoc maps a batch with its jobs counted.
func (h *Handlers) batchDoc(ctx context.Context, b *quantumv1alpha1.Batch, projectID string, ds *deviceStatuses) (restdoc.Batch, []*quantumv1alpha1.Job, error) {
	jobs, err := h.batchJobs(b)
	if err != nil {
		return restdoc.Batch{}, nil, err
	}
	return restdoc.BatchFrom(b, projectID, jobs, ds.of(b)), jobs, nil
}

// batchWithJobs is the v2 document of a batch (jobs without results).
func (h *Handlers) batchWithJobs(ctx context.Context, b *quantumv1alpha1.Batch) (restdoc.BatchWithJobs, error) {
	ds, err := h.deviceStatuses(ctx)
	if err != nil {
		return restdoc.BatchWithJobs{}, internal(err)
	}
	pid := h.projectID(ctx, b.Namespace)
	if b, err = h.fullBatch(ctx, b); err != nil {
		return restdoc.BatchWithJobs{}, internal(err)
	}
	doc, jobs, err := h.batchDoc(ctx, b, pid, ds)
	if err != nil {
		return restdoc.BatchWithJobs{}, internal(err)
	}
	if jobs, err = h.fullJobs(ctx, jobs, b); err != nil {
		return restdoc.BatchWithJobs{}, internal(err)
	}
	out := restdoc.BatchWithJobs{Batch: doc, Jobs: make([]restdoc.Job, len(jobs))}
	for i, j := range jobs {
		out.Jobs[i] = restdoc.JobFrom(j, pid)
	}
	return out, nil
}

// storedResult returns a job's full-result document: built from its status
// when the raw shots are inline, else read from its ConfigMap (nil when none).
func (h *Handlers) storedResult(ctx context.Context, j *quantumv1alpha1.Job) ([]byte, error) {
	if j.Status.ResultRef == "" && slimcache.Trimmed(j) {
		var err error
		if j, err = h.fullJob(ctx, j); err != nil { // the cache holds no raw shots
			return nil, err
		}
	}
	if j.Status.ResultRef == "" {
		if j.Status.Raw == nil {
			return nil, nil
		}
		return json.Marshal(struct {
			Counter map[string]int64 `json:"counter"`
			Raw     []string         `json:"raw"`
		}{j.Status.Counter, j.Status.Raw})
	}
	var cm corev1.ConfigMap
	if err := h.Client.Get(ctx, client.ObjectKey{Namespace: j.Namespace, Name: j.Status.ResultRef}, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if s, ok := cm.Data[quantumv1alpha1.ResultKey]; ok {
		return []byte(s), nil
	}
	return cm.BinaryData[quantumv1alpha1.ResultKey], nil
}

// specsOf is what a device serves as specs: its own, else the built-in catalog's.
func specsOf(d *quantumv1alpha1.Device) string {
	if d.Spec.Specs != "" {
		return d.Spec.Specs
	}
	s, _ := devices.Specs(string(d.Spec.DeviceType))
	return s
}

// parseJobFilter reads the job filters shared by list, rebatch and cancel.
func parseJobFilter(in *JobFilterParams) (*query.JobFilter, error) {
	f := &query.JobFilter{
		IDs: in.ID, IDPrefix: in.IDStartsWith, BatchIDs: in.BatchID, ProjectIDs: in.ProjectID,
		UserIDs: in.UserID, Statuses: in.Status, Origins: in.Origin,
	}
	for _, s := range in.Status {
		if !slices.Contains(quantumv1alpha1.JobStatuses, quantumv1alpha1.JobStatus(s)) {
			return nil, envelope.Invalid("not a job status: "+s, "query", "status")
		}
	}
	for _, o := range in.Origin {
		if o != "CLIENT" && o != "AZURE" && o != "UNKNOWN" {
			return nil, envelope.Invalid("must be CLIENT, AZURE or UNKNOWN, not "+o, "query", "origin")
		}
	}
	var err error
	if f.MinRuns, err = optInt(in.MinRuns, "min_runs"); err != nil {
		return nil, err
	}
	if f.MaxRuns, err = optInt(in.MaxRuns, "max_runs"); err != nil {
		return nil, err
	}
	if f.Errors, err = optBool(in.Errors, "errors"); err != nil {
		return nil, err
	}
	if f.Start, f.End, err = dates(in.StartDate, in.EndDate); err != nil {
		return nil, err
	}
	return f, nil
}
