// Package batchrunner is the loop a runner runs for one batch: it holds the
// batch's Lease, executes the batch's jobs one at a time in creation order
// with an Engine (the emulator or a QPU driver), writes RUNNING, progress,
// results and errors to each Job (a job done within one progress interval
// goes from PENDING to DONE in one write), waits for more jobs while the
// batch is open, and stops a job promptly when it or its batch is canceled.
//
// The runner writes only:
//   - the status of the job it runs (PENDING → [RUNNING →] DONE | ERROR | CANCELED),
//   - the job's result ConfigMap (v1alpha1.ResultConfigMapName, owned by the
//     job) when the raw shots do not fit in its status (v1alpha1.FitsInline),
//   - the renew time of its Lease.
//
// Everything else (batch status, retries after a runner died, time limits,
// canceling jobs that never started) is the manager's.
package batchrunner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/sequences"
	"github.com/tweezer-dev/tweezer/runners/engine"
)

// Config says what a runner runs and how.
type Config struct {
	// Namespace and Batch name the batch.
	Namespace string
	Batch     string
	// RunnerID is this runner's identity, the holder of its Lease.
	RunnerID string
	// LeaseNamespace and LeaseName name the Lease the manager gave the runner.
	LeaseNamespace string
	LeaseName      string
	// LeaseDuration is the Lease's validity; the runner renews every quarter of it.
	LeaseDuration time.Duration
	// Engine executes the jobs.
	Engine engine.Engine
	// ProgressInterval is the least time between two status writes of a
	// running job: a job is marked RUNNING once it has run this long, and
	// its progress is written at most this often (default 1 s).
	ProgressInterval time.Duration
	// Log receives the runner's log.
	Log logr.Logger
}

// Runner runs one batch.
type Runner struct {
	cfg     Config
	cluster *Cluster
	c       client.Client
	cache   cache.Cache
	lease   *leaseKeeper
	wake    chan struct{}

	ran       map[string]bool // the jobs this runner ran (loop only)
	sequences *sequences.Set  // the batch's sequences ConfigMap, once read (loop only)

	mu      sync.Mutex
	current string                  // the job being run
	cancel  context.CancelCauseFunc // stops the current job
}

// Reasons a job's execution stops early.
var (
	errJobCanceled   = errors.New("job canceled")
	errBatchCanceled = errors.New("batch canceled")
	errBatchGone     = errors.New("batch deleted or finished")
	errJobChanged    = errors.New("job changed under the runner")
)

// New prepares a runner on a cluster connection; Run runs it.
func New(cl *Cluster, c Config) (*Runner, error) {
	if c.Engine == nil || c.Namespace == "" || c.Batch == "" || c.RunnerID == "" || c.LeaseName == "" {
		return nil, errors.New("batchrunner: namespace, batch, runner id, lease and engine are required")
	}
	if c.LeaseDuration <= 0 {
		return nil, errors.New("batchrunner: lease duration must be positive")
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	if c.LeaseNamespace == "" {
		c.LeaseNamespace = c.Namespace
	}
	return &Runner{
		cfg: c, cluster: cl, c: cl.client,
		lease: &leaseKeeper{
			c: cl.client, key: client.ObjectKey{Namespace: c.LeaseNamespace, Name: c.LeaseName},
			holder: c.RunnerID, duration: c.LeaseDuration, now: time.Now,
		},
		wake: make(chan struct{}, 1),
		ran:  map[string]bool{},
	}, nil
}

// Run executes the batch until it is complete, canceled, finished by the
// manager, deleted, or the Lease is lost (ErrLeaseLost).
func (r *Runner) Run(ctx context.Context) error {
	r.cfg.Log.Info("runner starting")
	if err := r.lease.acquire(ctx); err != nil {
		return err
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go r.lease.keep(ctx, func(err error) {
		r.cfg.Log.Info("lost the lease, stopping", "reason", err.Error())
		stop(err)
	})
	if err := r.startCache(ctx); err != nil {
		return err
	}
	r.cfg.Log.Info("runner ready")
	err := r.loop(ctx)
	if cause := context.Cause(ctx); errors.Is(cause, ErrLeaseLost) {
		return cause
	}
	if err != nil {
		return err
	}
	return r.lease.release(context.WithoutCancel(ctx))
}

func (r *Runner) startCache(ctx context.Context) error {
	ca, err := cache.New(r.cluster.config, cache.Options{
		HTTPClient:        r.cluster.httpClient,
		Mapper:            r.cluster.mapper,
		Scheme:            r.cluster.scheme,
		DefaultNamespaces: map[string]cache.Config{r.cfg.Namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&quantumv1alpha1.Batch{}: {Field: fields.OneTermEqualSelector("metadata.name", r.cfg.Batch)},
			&quantumv1alpha1.Job{}:   {Label: labels.SelectorFromSet(labels.Set{quantumv1alpha1.BatchLabel: r.cfg.Batch})},
		},
	})
	if err != nil {
		return err
	}
	r.cache = ca
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.observe(obj, false) },
		UpdateFunc: func(_, obj any) { r.observe(obj, false) },
		DeleteFunc: func(obj any) { r.observe(obj, true) },
	}
	for _, obj := range []client.Object{&quantumv1alpha1.Batch{}, &quantumv1alpha1.Job{}} {
		inf, err := ca.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	go func() { _ = ca.Start(ctx) }()
	if !ca.WaitForCacheSync(ctx) {
		return fmt.Errorf("batchrunner: cache did not sync: %w", context.Cause(ctx))
	}
	return nil
}

// observe wakes the loop on every change and stops the current job at once
// when it or its batch is canceled or the batch goes away.
func (r *Runner) observe(obj any, deleted bool) {
	select {
	case r.wake <- struct{}{}:
	default:
	}
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel == nil {
		return
	}
	switch o := obj.(type) {
	case *quantumv1alpha1.Batch:
		switch {
		case deleted || o.DeletionTimestamp != nil || o.Status.Phase.Terminal():
			r.cancel(errBatchGone)
		case o.Spec.Canceled:
			r.cancel(errBatchCanceled)
		}
	case *quantumv1alpha1.Job:
		if o.Name == r.current && (deleted || o.Spec.Canceled) {
			r.cancel(errJobCanceled)
		}
	}
}

func (r *Runner) loop(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		batch := &quantumv1alpha1.Batch{}
		err := r.cache.Get(ctx, client.ObjectKey{Namespace: r.cfg.Namespace, Name: r.cfg.Batch}, batch)
		if apierrors.IsNotFound(err) {
			r.cfg.Log.Info("batch is gone, stopping")
			return nil
		}
		if err != nil {
			return err
		}
		if batch.DeletionTimestamp != nil || batch.Status.Phase.Terminal() || batch.Spec.Canceled {
			r.cfg.Log.Info("batch is finished or canceled, stopping", "phase", batch.Status.Phase)
			return nil
		}
		jobs := &quantumv1alpha1.JobList{}
		if err := r.cache.List(ctx, jobs); err != nil {
			return err
		}
		next, complete := pick(batch, jobs.Items, r.ran)
		if next != nil {
			if err := r.runJob(ctx, batch, next); err != nil {
				return err
			}
			// Once is enough: the cache may show the job PENDING a little
			// longer than the write that finished it.
			r.ran[next.Name] = true
			continue
		}
		if complete {
			r.cfg.Log.Info("batch complete")
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-time.After(10 * time.Second):
		}
	}
}

// pick returns the next job to run (the first unfinished, uncanceled job in
// creation order that this runner has not run yet) and whether the batch is
// complete for the runner: closed, every inline job created, and nothing
// left to run.
func pick(batch *quantumv1alpha1.Batch, jobs []quantumv1alpha1.Job, ran map[string]bool) (*quantumv1alpha1.Job, bool) {
	sort.Slice(jobs, func(i, j int) bool {
		if jobs[i].Spec.CreationOrder != jobs[j].Spec.CreationOrder {
			return jobs[i].Spec.CreationOrder < jobs[j].Spec.CreationOrder
		}
		return jobs[i].CreationTimestamp.Before(&jobs[j].CreationTimestamp)
	})
	for i := range jobs {
		j := &jobs[i]
		if j.Spec.BatchName != batch.Name || j.DeletionTimestamp != nil || j.Spec.Canceled || ran[j.Name] {
			continue
		}
		if j.CurrentPhase() == quantumv1alpha1.JobPending {
			return j, false
		}
	}
	return nil, !batch.Spec.Open && len(jobs) >= len(batch.Spec.Jobs)
}

// runJob executes the job and writes its outcome; its jobWriter marks it
// RUNNING once it has run for a progress interval.
func (r *Runner) runJob(ctx context.Context, batch *quantumv1alpha1.Batch, job *quantumv1alpha1.Job) error {
	log := r.cfg.Log.WithValues("job", job.Name, "order", job.Spec.CreationOrder)
	sequence, seqErr := r.sequenceOf(ctx, batch, job)
	if seqErr != nil && !sequences.Missing(seqErr) {
		return seqErr // the API server did not answer: the next runner tries again
	}
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := newJobWriter(r.c, job, r.cfg.ProgressInterval, func() { cancel(errJobChanged) })
	log.Info("job starting", "attempt", w.attempt)
	r.mu.Lock()
	r.current, r.cancel = job.Name, cancel
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.current, r.cancel = "", nil
		r.mu.Unlock()
	}()
	// The job or its batch may have been canceled before the handler was armed.
	if cur := (&quantumv1alpha1.Batch{}); r.cache.Get(ctx, client.ObjectKeyFromObject(batch), cur) == nil && cur.Spec.Canceled {
		cancel(errBatchCanceled)
	}
	if cur := (&quantumv1alpha1.Job{}); r.cache.Get(ctx, client.ObjectKeyFromObject(job), cur) == nil && cur.Spec.Canceled {
		cancel(errJobCanceled)
	}

	go w.run(jobCtx)
	task := engine.Task{
		Sequence:             sequence,
		Runs:                 int(job.Spec.Runs),
		Seed:                 seed(job),
		DeviceType:           string(batch.Spec.DeviceType),
		BackendConfiguration: batch.Spec.BackendConfiguration,
	}
	if job.Spec.Variables != nil {
		task.Variables = job.Spec.Variables.Raw
	}
	if batch.Spec.Configuration != nil {
		task.Configuration = batch.Spec.Configuration.Raw
	}
	var res *engine.Result
	runErr := task.ParseEmulation() // a configuration refused fails the job, naming the field
	if runErr == nil && seqErr != nil {
		runErr = &engine.InputError{Path: "spec.sequencesFrom", Msg: seqErr.Error()}
	}
	if runErr == nil && task.Sequence == "" {
		runErr = &engine.InputError{Path: "sequence", Msg: "the job has no sequence and its batch no sequenceBuilder"}
	}
	if runErr == nil {
		runErr = resultFits(task) // before the compute is spent
	}
	if runErr == nil {
		res, runErr = engine.Run(jobCtx, r.cfg.Engine, task, w.set)
		if pe := (*engine.PanicError)(nil); errors.As(runErr, &pe) {
			log.Error(runErr, "the engine panicked: the job fails, the runner goes on", "stack", string(pe.Stack))
		}
	}
	cause := context.Cause(jobCtx)
	cancel(nil)
	w.stop()
	// A cancel that arrives as the engine returns its result does not undo
	// the work: a job whose engine succeeded is finished DONE with it.
	canceled := (errors.Is(cause, errJobCanceled) || errors.Is(cause, errBatchCanceled)) && runErr != nil

	switch {
	case errors.Is(context.Cause(ctx), ErrLeaseLost):
		return nil // another runner may own the job now: write nothing
	case errors.Is(cause, errBatchGone):
		return nil // the manager finishes the batch's jobs
	case errors.Is(cause, errJobChanged):
		return nil // the manager changed the job (canceled it): look again
	case canceled:
		log.Info("job canceled")
		return w.finish(ctx, func(s *quantumv1alpha1.JobStatusFields) {
			s.Phase = quantumv1alpha1.JobCanceled
		})
	case ctx.Err() != nil:
		return nil
	case runErr != nil:
		log.Info("job failed", "error", runErr.Error())
		return w.finish(ctx, func(s *quantumv1alpha1.JobStatusFields) {
			s.Phase = quantumv1alpha1.JobError
			s.Errors = appendError(s.Errors, runErr.Error())
		})
	}
	if res == nil {
		res = &engine.Result{}
	}
	if res.Counter == nil {
		res.Counter = map[string]int64{}
	}
	if res.Raw == nil {
		res.Raw = []string{}
	}
	// Small results go in the job's status with the DONE write; larger ones,
	// and any with observables (serialised_results), to a ConfigMap first.
	raw, ref := res.Raw, ""
	if !quantumv1alpha1.FitsInline(raw) || len(res.Observables) > 0 {
		var err error
		if ref, err = r.writeResult(ctx, job, res); err != nil {
			return err
		}
		raw = nil
	}
	log.Info("job done", "inline", ref == "")
	return w.finish(ctx, func(s *quantumv1alpha1.JobStatusFields) {
		s.Phase = quantumv1alpha1.JobDone
		s.Progress = 100
		s.Counter = res.Counter
		s.Raw = raw
		s.ResultRef = ref
	})
}

// sequenceOf is the sequence job runs: its own, else its batch's, from the
// spec or from the batch's sequences ConfigMap (read once: it is immutable).
func (r *Runner) sequenceOf(ctx context.Context, batch *quantumv1alpha1.Batch, job *quantumv1alpha1.Job) (string, error) {
	if job.Spec.Sequence != "" {
		return job.Spec.Sequence, nil
	}
	if batch.Spec.SequencesFrom == "" {
		return batch.Spec.SequenceBuilder, nil
	}
	if r.sequences == nil {
		set, err := sequences.Of(ctx, r.c, batch)
		if err != nil {
			return "", err
		}
		r.sequences = &set
	}
	set := r.sequences.For(batch)
	if own := set.Job(sequences.JobIndex(job.Spec.CreationOrder)); own != "" {
		return own, nil
	}
	return set.Batch(), nil
}

// resultFits refuses a task whose result cannot be stored: its raw shots
// alone (runs × atoms) would exceed what a result ConfigMap holds. A
// sequence whose register cannot be read is left to the engine to refuse.
func resultFits(t engine.Task) error {
	var seq struct {
		Register []json.RawMessage `json:"register"`
	}
	if json.Unmarshal([]byte(t.Sequence), &seq) != nil || len(seq.Register) == 0 {
		return nil
	}
	atoms := len(seq.Register)
	if need := quantumv1alpha1.MinResultBytes(t.Runs, atoms); need > quantumv1alpha1.MaxResultBytes {
		return &engine.InputError{Path: "runs", Msg: fmt.Sprintf("%d runs of %d atoms make a result of at least %d bytes, more than the %d bytes a job's result may hold: ask for at most %d runs",
			t.Runs, atoms, need, quantumv1alpha1.MaxResultBytes, quantumv1alpha1.MaxRunsForResult(atoms))}
	}
	return nil
}

// writeResult stores the full result in the job's ConfigMap and returns its name.
func (r *Runner) writeResult(ctx context.Context, job *quantumv1alpha1.Job, res *engine.Result) (string, error) {
	data, err := res.FullResult()
	if err != nil {
		return "", err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Namespace: job.Namespace, Name: quantumv1alpha1.ResultConfigMapName(job.Name),
		Labels: map[string]string{quantumv1alpha1.BatchLabel: job.Spec.BatchName},
	}}
	if err := controllerutil.SetControllerReference(job, cm, r.cluster.scheme); err != nil {
		return "", err
	}
	cm.Data = map[string]string{quantumv1alpha1.ResultKey: string(data)}
	err = untilAnswered(ctx, func() error {
		err := r.c.Create(ctx, cm.DeepCopy())
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		// A previous attempt (or a create whose answer was lost) stored a
		// result; this attempt's replaces it.
		return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			cur := &corev1.ConfigMap{}
			if err := r.c.Get(ctx, client.ObjectKeyFromObject(cm), cur); err != nil {
				return err
			}
			cur.Data = cm.Data
			return r.c.Update(ctx, cur)
		})
	})
	if err != nil {
		return "", fmt.Errorf("storing the result of job %s: %w", job.Name, err)
	}
	return cm.Name, nil
}

func seed(job *quantumv1alpha1.Job) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(job.UID))
	return int64(h.Sum64() >> 1)
}

// maxErrors mirrors the API's cap on a job's errors.
const maxErrors = 100

func appendError(errs []string, msg string) []string {
	if len(errs) >= maxErrors {
		return errs
	}
	return append(errs, msg)
}
