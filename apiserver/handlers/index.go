package handlers

import (
	toolscache "k8s.io/client-go/tools/cache"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// Indexers registered on the Batch and Job informers. Reads go through them
// without copying: the objects are shared with the cache and read only.
const (
	// IndexName: the object's name, in any namespace (ids are unique).
	IndexName = "tweezer/name"
	// IndexNamespace: the object's namespace.
	IndexNamespace = "tweezer/namespace"
	// IndexPhase: the API status (empty phase = PENDING), in any namespace.
	IndexPhase = "tweezer/phase"
	// IndexBatch (jobs): "<namespace>/<batch name>"; IndexBatchName: the batch name alone.
	IndexBatch     = "tweezer/batch"
	IndexBatchName = "tweezer/batch-name"
	// IndexParent (batches): "<namespace>/<parent batch name>".
	IndexParent = "tweezer/parent"
)

func meta(o any) (namespace, name string) {
	switch v := o.(type) {
	case *quantumv1alpha1.Batch:
		return v.Namespace, v.Name
	case *quantumv1alpha1.Job:
		return v.Namespace, v.Name
	}
	return "", ""
}

func common() toolscache.Indexers {
	return toolscache.Indexers{
		IndexName:      func(o any) ([]string, error) { _, n := meta(o); return []string{n}, nil },
		IndexNamespace: func(o any) ([]string, error) { ns, _ := meta(o); return []string{ns}, nil },
	}
}

// BatchIndexers are the indexers of the Batch informer.
func BatchIndexers() toolscache.Indexers {
	ix := common()
	ix[IndexPhase] = func(o any) ([]string, error) {
		return []string{restdoc.BatchPhase(o.(*quantumv1alpha1.Batch))}, nil
	}
	ix[IndexParent] = func(o any) ([]string, error) {
		b := o.(*quantumv1alpha1.Batch)
		if b.Spec.ParentID == "" {
			return nil, nil
		}
		return []string{b.Namespace + "/" + b.Spec.ParentID}, nil
	}
	return ix
}

// JobIndexers are the indexers of the Job informer.
func JobIndexers() toolscache.Indexers {
	ix := common()
	ix[IndexPhase] = func(o any) ([]string, error) {
		return []string{restdoc.JobPhase(o.(*quantumv1alpha1.Job))}, nil
	}
	ix[IndexBatch] = func(o any) ([]string, error) {
		j := o.(*quantumv1alpha1.Job)
		return []string{j.Namespace + "/" + j.Spec.BatchName}, nil
	}
	ix[IndexBatchName] = func(o any) ([]string, error) {
		return []string{o.(*quantumv1alpha1.Job).Spec.BatchName}, nil
	}
	return ix
}

// batchesBy returns the cached batches under key of an index (shared, read only).
func (h *Handlers) batchesBy(index, key string) ([]*quantumv1alpha1.Batch, error) {
	objs, err := h.Batches.ByIndex(index, key)
	if err != nil {
		return nil, err
	}
	out := make([]*quantumv1alpha1.Batch, 0, len(objs))
	for _, o := range objs {
		if b, ok := o.(*quantumv1alpha1.Batch); ok {
			out = append(out, b)
		}
	}
	return out, nil
}

// jobsBy returns the cached jobs under key of an index (shared, read only).
func (h *Handlers) jobsBy(index, key string) ([]*quantumv1alpha1.Job, error) {
	objs, err := h.Jobs.ByIndex(index, key)
	if err != nil {
		return nil, err
	}
	out := make([]*quantumv1alpha1.Job, 0, len(objs))
	for _, o := range objs {
		if j, ok := o.(*quantumv1alpha1.Job); ok {
			out = append(out, j)
		}
	}
	return out, nil
}
