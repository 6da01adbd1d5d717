// Package slimcache keeps payloads out of informer caches. A Batch's
// sequences (up to 1 MiB each), a Job's own sequence and raw shots, and a
// Workload's config over 4 KiB (it carries a sequence) are dropped from the objects
// the manager's and the facade's informers hold, so the caches' memory
// scales with the number of objects, not with what users send. Code that
// needs a body reads the object from the API server (an uncached reader) at
// that moment.
//
// A trimmed object carries the annotation Annotation. It must never be
// written back whole: an Update would erase what was dropped. Guard wraps a
// client so that such an Update is refused; patches computed between two
// trimmed copies (client.MergeFrom) and status writes are safe, because what
// was dropped is the same on both sides or not part of the write.
package slimcache

import (
	"context"
	"fmt"
	"maps"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Annotation marks an object from which Trim dropped a payload; its value
// lists what was dropped.
const Annotation = "quantum.tweezer.dev/cache-trimmed"

// Trimmed reports whether obj came out of a trimmed cache with a payload dropped.
func Trimmed(obj metav1.Object) bool {
	_, ok := obj.GetAnnotations()[Annotation]
	return ok
}

// Trim drops the payloads of a Batch, Job or Workload in place, and the
// managed fields of any object; other values pass unchanged. It is a
// cache.TransformFunc.
func Trim(in any) (any, error) {
	var dropped []string
	switch o := in.(type) {
	case *quantumv1alpha1.Batch:
		if o.Spec.SequenceBuilder != "" {
			o.Spec.SequenceBuilder = ""
			dropped = append(dropped, "sequenceBuilder")
		}
		n := 0
		for i := range o.Spec.Jobs {
			if o.Spec.Jobs[i].Sequence != "" {
				o.Spec.Jobs[i].Sequence = ""
				n++
			}
		}
		if n > 0 {
			dropped = append(dropped, "jobs[].sequence")
		}
		if len(o.Spec.BackendConfiguration) > smallBytes {
			o.Spec.BackendConfiguration = ""
			dropped = append(dropped, "backendConfiguration")
		}
	case *quantumv1alpha1.Job:
		if o.Spec.Sequence != "" {
			o.Spec.Sequence = ""
			dropped = append(dropped, "sequence")
		}
		// Raw shots are set with DONE, after which the CRD refuses any
		// status change: a trimmed Job's status is never written back.
		if o.Status.Raw != nil {
			o.Status.Raw = nil
			dropped = append(dropped, "status.raw")
		}
	case *quantumv1alpha1.Workload:
		if o.Spec.Config != nil && len(o.Spec.Config.Raw) > smallBytes {
			o.Spec.Config = nil
			dropped = append(dropped, "config")
		}
	}
	if m, ok := in.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if len(dropped) > 0 {
			a := maps.Clone(m.GetAnnotations())
			if a == nil {
				a = map[string]string{}
			}
			a[Annotation] = strings.Join(dropped, ",")
			m.SetAnnotations(a)
		}
	}
	return in, nil
}

// smallBytes is the size up to which a free-form string stays in the cache.
const smallBytes = 4 << 10

// Options makes a cache trim every object it holds (Trim).
func Options(opts cache.Options) cache.Options {
	opts.DefaultTransform = Trim
	for obj, by := range opts.ByObject {
		by.Transform = Trim
		opts.ByObject[obj] = by
	}
	return opts
}

// Guard wraps c so that it refuses an Update of an object that a trimmed
// cache handed out: it would erase the dropped payload. Read the object
// again from the API server, or patch. Status writes pass: the status
// subresource ignores the spec.
func Guard(c client.Client) client.Client { return guarded{c} }

type guarded struct{ client.Client }

func (g guarded) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if Trimmed(obj) {
		return fmt.Errorf("refusing to update %T %s/%s: it comes from a trimmed cache without its %s (read it from the API server, or patch)",
			obj, obj.GetNamespace(), obj.GetName(), obj.GetAnnotations()[Annotation])
	}
	return g.Client.Update(ctx, obj, opts...)
}
