// Package workloadrunner is what a workload runner does for one Workload of
// the pulser_basic backend: it reads the workload's config (a Pulser
// sequence, its variables and the number of runs; from its spec, or from
// the ConfigMap spec.configFrom names), runs it on the project's
// emulator and writes the result, or the reason it could not, to the
// Workload's status.
//
// The runner writes only the Workload's status: RUNNING with its start time,
// then DONE with {"counter": {...}} or ERROR with the errors, and the end
// time. A workload canceled (or finished by a worker through the API) while it
// runs is left as it is: the runner stops its emulation and writes nothing
// more; the manager marks a canceled workload CANCELED.
package workloadrunner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/sequences"
	"github.com/tweezer-dev/tweezer/internal/workloadconfig"
	"github.com/tweezer-dev/tweezer/runners/emulator"
)

// MaxResultBytes caps the serialized result kept in the Workload's status,
// well under etcd's object size limit.
const MaxResultBytes = 1 << 20

// ConditionExecuted records the runner's outcome on the Workload: true when
// it produced a result, false with the reason when it could not.
const ConditionExecuted = "Executed"

// Runner runs one workload.
type Runner struct {
	// Client reads and watches the Workload and writes its status.
	Client client.WithWatch
	// Namespace and Name name the Workload.
	Namespace, Name string
	// Log receives the runner's log.
	Log logr.Logger
}

// Run executes the workload. It returns nil when the outcome (a result, an
// error the workload carries, or a cancellation) is recorded or nothing was
// left to do, and an error when it could not read or write the Workload.
func (r *Runner) Run(ctx context.Context) error {
	key := client.ObjectKey{Namespace: r.Namespace, Name: r.Name}
	wl := &quantumv1alpha1.Workload{}
	if err := r.Client.Get(ctx, key, wl); err != nil {
		return fmt.Errorf("reading workload %s: %w", key, err)
	}
	if wl.Status.Phase.Terminal() || wl.Spec.Canceled {
		r.Log.Info("nothing to do", "phase", wl.Status.Phase, "canceled", wl.Spec.Canceled)
		return nil
	}
	if wl.Spec.Backend != quantumv1alpha1.BackendPulserBasic {
		return r.finish(ctx, key, nil, fmt.Errorf("this runner executes backend %s only, not %s: map (%s, %s) to a runner image that supports it",
			quantumv1alpha1.BackendPulserBasic, wl.Spec.Backend, wl.Spec.WorkloadType, wl.Spec.Backend))
	}
	raw, err := sequences.WorkloadConfig(ctx, r.Client, wl)
	switch {
	case sequences.Missing(err):
		return r.finish(ctx, key, nil, fmt.Errorf("spec.configFrom: %w", err))
	case err != nil:
		return err
	}
	spec, err := workloadconfig.Parse(raw)
	if err != nil {
		return r.finish(ctx, key, nil, err)
	}
	req := emulator.Request{
		Sequence: spec.Sequence, Runs: spec.Runs, Seed: spec.Seed, DeviceType: spec.DeviceType,
		Variables: spec.Variables, Configuration: spec.Configuration,
	}
	if stop, err := r.update(ctx, key, func(wl *quantumv1alpha1.Workload) {
		now := metav1.Now()
		wl.Status.Phase = quantumv1alpha1.WorkloadRunning
		if wl.Status.StartTime == nil {
			wl.Status.StartTime = &now
		}
	}); err != nil || stop {
		return err
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go r.watchCancel(runCtx, key, wl.ResourceVersion, cancel)
	res, err := emulator.Run(runCtx, req, nil)
	if cause := context.Cause(runCtx); cause != nil && errors.Is(cause, errCanceled) {
		r.Log.Info("emulation stopped", "reason", errCanceled.Error())
		return nil
	}
	if err != nil {
		var ie *emulator.InputError
		if errors.As(err, &ie) {
			err = fmt.Errorf("invalid input: %w", err)
		}
		return r.finish(ctx, key, nil, err)
	}
	result, err := json.Marshal(map[string]any{"counter": res.Counter})
	if err != nil {
		return r.finish(ctx, key, nil, err)
	}
	if len(result) > MaxResultBytes {
		return r.finish(ctx, key, nil, fmt.Errorf("the result has %d bytes, more than the %d a workload keeps: ask for fewer runs", len(result), MaxResultBytes))
	}
	return r.finish(ctx, key, result, nil)
}

var errCanceled = errors.New("workload canceled, deleted or finished elsewhere")

// watchCancel cancels the emulation when the workload is canceled, deleted or
// finished by someone else (a worker may set its status through the API).
func (r *Runner) watchCancel(ctx context.Context, key client.ObjectKey, rv string, cancel context.CancelCauseFunc) {
	for ctx.Err() == nil {
		w, err := r.Client.Watch(ctx, &quantumv1alpha1.WorkloadList{}, client.InNamespace(key.Namespace),
			client.MatchingFields{"metadata.name": key.Name}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err != nil {
			r.Log.Error(err, "watching the workload for cancellation; retrying")
			rv = ""
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Deleted {
				cancel(errCanceled)
			}
			wl, ok := ev.Object.(*quantumv1alpha1.Workload)
			if !ok {
				continue
			}
			rv = wl.ResourceVersion
			if wl.Spec.Canceled || wl.Status.Phase.Terminal() {
				cancel(errCanceled)
			}
		}
		w.Stop()
	}
}

// finish records the outcome: DONE with the result, or ERROR with err.
func (r *Runner) finish(ctx context.Context, key client.ObjectKey, result []byte, runErr error) error {
	_, err := r.update(ctx, key, func(wl *quantumv1alpha1.Workload) {
		now := metav1.Now()
		wl.Status.EndTime = &now
		if runErr != nil {
			wl.Status.Phase = quantumv1alpha1.WorkloadError
			wl.Status.Errors = append(wl.Status.Errors, runErr.Error())
			if n := len(wl.Status.Errors); n > 100 {
				wl.Status.Errors = wl.Status.Errors[n-100:]
			}
			meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{
				Type: ConditionExecuted, Status: metav1.ConditionFalse, Reason: "Failed",
				Message: runErr.Error(), ObservedGeneration: wl.Generation,
			})
			return
		}
		wl.Status.Phase = quantumv1alpha1.WorkloadDone
		wl.Status.Result = &apiextensionsv1.JSON{Raw: result}
		meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{
			Type: ConditionExecuted, Status: metav1.ConditionTrue, Reason: "Succeeded",
			Message: "the emulation produced a result", ObservedGeneration: wl.Generation,
		})
	})
	if runErr != nil {
		r.Log.Info("workload failed", "error", runErr.Error())
	}
	return err
}

// update applies change to the workload's status unless the workload is
// gone, canceled or already finished (then stop is true and nothing is written).
func (r *Runner) update(ctx context.Context, key client.ObjectKey, change func(*quantumv1alpha1.Workload)) (stop bool, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		wl := &quantumv1alpha1.Workload{}
		if err := r.Client.Get(ctx, key, wl); err != nil {
			return err
		}
		if wl.Spec.Canceled || wl.Status.Phase.Terminal() {
			stop = true
			return nil
		}
		change(wl)
		return r.Client.Status().Update(ctx, wl)
	})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return stop, fmt.Errorf("writing the status of workload %s: %w", key, err)
	}
	return stop, nil
}
