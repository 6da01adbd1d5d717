package handlers

import (
	"context"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
	"github.com/tweezer-dev/tweezer/internal/sequences"
	"github.com/tweezer-dev/tweezer/internal/slimcache"
)

// The informers hold no sequences, raw shots or large configurations
// (slimcache): lists filter and sort on what they hold, and a response that
// serves a body reads it from the API server, for the objects it returns
// only (a page, one batch and its jobs).

// fullBatch returns b with its payloads: b itself when the cache dropped
// nothing from it, else b as the API server has it (b again if it is gone);
// with the sequences its ConfigMap keeps (spec.sequencesFrom) put back in a
// copy of its spec, for documents and copies only: never written back.
func (h *Handlers) fullBatch(ctx context.Context, b *quantumv1alpha1.Batch) (*quantumv1alpha1.Batch, error) {
	full := b
	if slimcache.Trimmed(b) {
		full = &quantumv1alpha1.Batch{}
		if err := h.Client.Get(ctx, client.ObjectKeyFromObject(b), full); err != nil {
			if apierrors.IsNotFound(err) {
				return b, nil
			}
			return nil, err
		}
	}
	if full.Spec.SequencesFrom == "" {
		return full, nil
	}
	set, err := sequences.Served(ctx, h.Client, full)
	if err != nil {
		return nil, err
	}
	out := full.DeepCopy()
	out.Spec.SequenceBuilder = set.Batch()
	for i := range out.Spec.Jobs {
		out.Spec.Jobs[i].Sequence = set.Job(i)
	}
	return out, nil
}

// withOwnSequences puts back, in copies, the own sequences that jobs of
// batches with a sequences ConfigMap keep there, reading each ConfigMap once;
// known are batches already read whole by fullBatch, whose ConfigMaps are
// not read again.
func (h *Handlers) withOwnSequences(ctx context.Context, jobs []*quantumv1alpha1.Job, known []*quantumv1alpha1.Batch) error {
	sets := map[client.ObjectKey]*sequences.Set{}
	for _, b := range known {
		if !slimcache.Trimmed(b) {
			set := sequences.FromSpec(b)
			sets[client.ObjectKeyFromObject(b)] = &set
		}
	}
	for i, j := range jobs {
		if j.Spec.Sequence != "" {
			continue
		}
		key := client.ObjectKey{Namespace: j.Namespace, Name: j.Spec.BatchName}
		set, ok := sets[key]
		if !ok {
			obj, exists, err := h.Batches.GetByKey(key.String())
			if err != nil {
				return err
			}
			if exists && obj.(*quantumv1alpha1.Batch).Spec.SequencesFrom != "" {
				s, err := sequences.Served(ctx, h.Client, obj.(*quantumv1alpha1.Batch))
				if err != nil {
					return err
				}
				set = &s
			}
			sets[key] = set
		}
		if set == nil {
			continue
		}
		if own := set.Job(sequences.JobIndex(j.Spec.CreationOrder)); own != "" {
			jobs[i] = j.DeepCopy()
			jobs[i].Spec.Sequence = own
		}
	}
	return nil
}

// fullJobs returns jobs with their payloads, in the same order: the trimmed
// ones read from the API server, the jobs of one batch in one list, and
// their own sequences from their batch's ConfigMap (known: batches that
// fullBatch returned, whose sequences are at hand).
func (h *Handlers) fullJobs(ctx context.Context, jobs []*quantumv1alpha1.Job, known ...*quantumv1alpha1.Batch) ([]*quantumv1alpha1.Job, error) {
	out := make([]*quantumv1alpha1.Job, len(jobs))
	copy(out, jobs)
	perBatch := map[client.ObjectKey][]int{}
	for i, j := range jobs {
		if slimcache.Trimmed(j) {
			k := client.ObjectKey{Namespace: j.Namespace, Name: j.Spec.BatchName}
			perBatch[k] = append(perBatch[k], i)
		}
	}
	var single []int
	for k, idx := range perBatch {
		if len(idx) == 1 {
			single = append(single, idx[0])
			continue
		}
		var list quantumv1alpha1.JobList
		if err := h.Client.List(ctx, &list, client.InNamespace(k.Namespace), client.MatchingLabels{quantumv1alpha1.BatchLabel: k.Name}); err != nil {
			return nil, err
		}
		byName := make(map[string]*quantumv1alpha1.Job, len(list.Items))
		for i := range list.Items {
			byName[list.Items[i].Name] = &list.Items[i]
		}
		for _, i := range idx {
			if full, ok := byName[jobs[i].Name]; ok && full.UID == jobs[i].UID {
				out[i] = full
			} else {
				single = append(single, i) // not labelled (yet): read it alone
			}
		}
	}
	// The rest one by one, a few at a time.
	err := each(len(single), func(k int) error {
		i := single[k]
		full := &quantumv1alpha1.Job{}
		if err := h.Client.Get(ctx, client.ObjectKeyFromObject(jobs[i]), full); err != nil {
			return client.IgnoreNotFound(err)
		}
		out[i] = full
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := h.withOwnSequences(ctx, out, known); err != nil {
		return nil, err
	}
	return out, nil
}

// each runs f(0..n-1), eight at a time, and returns the first error.
func each(n int, f func(i int) error) error {
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// withBatchBodies sets, in a page of batch documents, what the cache does
// not hold (sequence_builder, a large backend_configuration), from the
// batches they were made of.
func (h *Handlers) withBatchBodies(ctx context.Context, page []*restdoc.Batch, src map[*restdoc.Batch]*quantumv1alpha1.Batch) error {
	return each(len(page), func(i int) error {
		full, err := h.fullBatch(ctx, src[page[i]])
		if err != nil {
			return err
		}
		page[i].SequenceBuilder = full.Spec.SequenceBuilder
		if full.Spec.BackendConfiguration != "" {
			bc := full.Spec.BackendConfiguration
			page[i].BackendConfiguration = &bc
		}
		return nil
	})
}

// withJobSequences sets, in a page of job documents, the jobs' own
// sequences, which the cache does not hold.
func (h *Handlers) withJobSequences(ctx context.Context, page []*restdoc.Job, src map[*restdoc.Job]*quantumv1alpha1.Job) error {
	objs := make([]*quantumv1alpha1.Job, len(page))
	for i, d := range page {
		objs[i] = src[d]
	}
	full, err := h.fullJobs(ctx, objs)
	if err != nil {
		return err
	}
	for i, d := range page {
		d.Sequence = restdoc.JobFrom(full[i], d.ProjectID).Sequence
	}
	return nil
}

// fullJob is fullJobs of one job.
func (h *Handlers) fullJob(ctx context.Context, j *quantumv1alpha1.Job) (*quantumv1alpha1.Job, error) {
	out, err := h.fullJobs(ctx, []*quantumv1alpha1.Job{j})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// jobDoc is the document of a job, with its own sequence.
func (h *Handlers) jobDoc(ctx context.Context, j *quantumv1alpha1.Job, projectID string) (restdoc.Job, error) {
	full, err := h.fullJob(ctx, j)
	if err != nil {
		return restdoc.Job{}, internal(err)
	}
	return restdoc.JobFrom(full, projectID), nil
}

// jobWithResult is the v1 document of a job: its sequence and its result.
func (h *Handlers) jobWithResult(ctx context.Context, j *quantumv1alpha1.Job, projectID string) (restdoc.JobWithResult, error) {
	full, err := h.fullJob(ctx, j)
	if err != nil {
		return restdoc.JobWithResult{}, internal(err)
	}
	stored, err := h.storedResult(ctx, full)
	if err != nil {
		return restdoc.JobWithResult{}, internal(err)
	}
	return restdoc.WithResult(full, projectID, stored), nil
}
