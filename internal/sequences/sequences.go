// Package sequences keeps users' Pulser sequences out of the objects that
// carry them when they are large: a batch's, in an immutable ConfigMap owned
// by the batch and named by spec.sequencesFrom, and a workload's config
// (which carries its sequence), in one owned by the workload and named by
// spec.configFrom (workload.go). A Batch or a Workload is written again at
// every status change and sent whole to every watcher (kube-apiserver,
// etcd, each informer's decoding), so a megabyte in its spec costs
// megabytes at each of them; a ConfigMap nobody watches is written once and
// read by the runner and by the facade's responses.
//
// A batch's keys: BatchKey for the batch's sequence (spec.sequenceBuilder),
// JobKey(i) for the own sequence of spec.jobs[i]. What the spec holds wins.
package sequences

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// BatchKey holds the batch's sequence.
const BatchKey = "sequenceBuilder"

// JobKey holds the own sequence of spec.jobs[i].
func JobKey(i int) string { return "job-" + strconv.Itoa(i) }

// ConfigMapName is the name of the sequences ConfigMap of a batch.
func ConfigMapName(batch string) string { return batch + "-sequences" }

// Split moves b's sequences (the batch's and its inline jobs' own) into a
// ConfigMap when together they exceed inline bytes, sets
// spec.sequencesFrom, and returns the ConfigMap to create once the batch
// exists (Own sets its owner); nil when they stay in the spec: inline < 0,
// or more than a ConfigMap holds (1 MiB; the batch's own size cap then
// applies, as before).
func Split(b *quantumv1alpha1.Batch, inline int) *corev1.ConfigMap {
	total := len(b.Spec.SequenceBuilder)
	for _, j := range b.Spec.Jobs {
		total += len(j.Sequence)
	}
	if inline < 0 || total <= inline || total > corev1.MaxSecretSize {
		return nil // small, or more than one ConfigMap holds: the spec keeps them
	}
	data := map[string]string{}
	if b.Spec.SequenceBuilder != "" {
		data[BatchKey] = b.Spec.SequenceBuilder
		b.Spec.SequenceBuilder = ""
	}
	for i := range b.Spec.Jobs {
		if s := b.Spec.Jobs[i].Sequence; s != "" {
			data[JobKey(i)] = s
			b.Spec.Jobs[i].Sequence = ""
		}
	}
	b.Spec.SequencesFrom = ConfigMapName(b.Name)
	return immutableConfigMap(b.Namespace, b.Spec.SequencesFrom, map[string]string{quantumv1alpha1.BatchLabel: b.Name}, data)
}

func immutableConfigMap(namespace, name string, labels, data map[string]string) *corev1.ConfigMap {
	immutable := true
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Immutable:  &immutable,
		Data:       data,
	}
}

// Own makes the batch b the owner of its sequences ConfigMap cm, so that
// deleting the batch deletes it.
func Own(cm *corev1.ConfigMap, b *quantumv1alpha1.Batch) { own(cm, "Batch", b) }

func own(cm *corev1.ConfigMap, kind string, owner metav1.Object) {
	cm.OwnerReferences = append(cm.OwnerReferences, metav1.OwnerReference{
		APIVersion: quantumv1alpha1.GroupVersion.String(), Kind: kind,
		Name: owner.GetName(), UID: owner.GetUID(),
	})
}

// Set is a batch's sequences, wherever they are kept.
type Set struct {
	spec *quantumv1alpha1.BatchSpec
	data map[string]string
}

// ErrNotOwned is the error of a ConfigMap that spec.sequencesFrom (or a
// workload's spec.configFrom) names but the object does not own: only an
// object's own ConfigMap (the one the facade wrote for it) is read, so that
// naming another ConfigMap of the namespace does not serve its data to
// whoever may read the object. The errors of Of say which object ("not
// owned by the batch") and match it with errors.Is.
var ErrNotOwned = errors.New("not owned by the object that names it")

type notOwned struct{ kind string }

func (e notOwned) Error() string        { return "not owned by the " + e.kind }
func (e notOwned) Is(target error) bool { return target == ErrNotOwned }

// Of reads the sequences of b: its spec, and its sequences ConfigMap when
// it names one (read with r). A named ConfigMap that is missing, or not
// owned by b, is an error that says so (Missing).
func Of(ctx context.Context, r client.Reader, b *quantumv1alpha1.Batch) (Set, error) {
	s := Set{spec: &b.Spec}
	if b.Spec.SequencesFrom == "" {
		return s, nil
	}
	data, err := read(ctx, r, "batch", b, b.Spec.SequencesFrom)
	if err != nil {
		return s, fmt.Errorf("reading the sequences of batch %s (ConfigMap %s, spec.sequencesFrom): %w", b.Name, b.Spec.SequencesFrom, err)
	}
	s.data = data
	return s, nil
}

// read returns the data of the ConfigMap name in owner's namespace, or
// ErrNotOwned when owner (a kind) does not own it.
func read(ctx context.Context, r client.Reader, kind string, owner metav1.Object, name string) (map[string]string, error) {
	cm := &corev1.ConfigMap{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: owner.GetNamespace(), Name: name}, cm); err != nil {
		return nil, err
	}
	if !Owns(owner, cm) {
		return nil, notOwned{kind}
	}
	return cm.Data, nil
}

// Owns reports whether owner is an owner of the ConfigMap cm.
func Owns(owner, cm metav1.Object) bool {
	return slices.ContainsFunc(cm.GetOwnerReferences(), func(o metav1.OwnerReference) bool { return o.UID == owner.GetUID() })
}

// Missing reports whether err from Of (or WorkloadConfig) says the ConfigMap
// is not there for the object (absent, not its own, or without the
// workload's key), rather than that it could not be read.
func Missing(err error) bool {
	return apierrors.IsNotFound(err) || errors.Is(err, ErrNotOwned) || errors.Is(err, errNoConfig)
}

// Served is Of for whoever serves a batch's documents (the facade, webhook
// payloads): a ConfigMap that is gone (the batch being deleted, or its
// writer stopped between the batch and its ConfigMap) or that the batch
// does not own reads as no sequences, so the documents are still served,
// without another ConfigMap's data. Other errors are returned.
func Served(ctx context.Context, r client.Reader, b *quantumv1alpha1.Batch) (Set, error) {
	s, err := Of(ctx, r, b)
	if Missing(err) {
		return s, nil
	}
	return s, err
}

// FromSpec is the sequences of a batch whose spec holds them all (one that
// keeps none in a ConfigMap, or whose ConfigMap's were put back in a copy).
func FromSpec(b *quantumv1alpha1.Batch) Set { return Set{spec: &b.Spec} }

// For is s with the spec of b, a later version of the same batch: the
// ConfigMap is immutable, so its data read once holds for every version.
func (s Set) For(b *quantumv1alpha1.Batch) Set {
	s.spec = &b.Spec
	return s
}

// Batch is the batch's sequence ("" when every job has its own).
func (s Set) Batch() string {
	if s.spec.SequenceBuilder != "" {
		return s.spec.SequenceBuilder
	}
	return s.data[BatchKey]
}

// Job is the own sequence of spec.jobs[i] ("" when it runs the batch's).
func (s Set) Job(i int) string {
	if i >= 0 && i < len(s.spec.Jobs) && s.spec.Jobs[i].Sequence != "" {
		return s.spec.Jobs[i].Sequence
	}
	return s.data[JobKey(i)]
}

// JobIndex is the index in spec.jobs of the job with this creation order
// (creationOrder = index + 1), -1 when it has none.
func JobIndex(creationOrder int32) int { return int(creationOrder) - 1 }
