// Package workloadrunner is what a workload runner does for one Workload of
// the pulser_basic backend: it reads the workload's config (a Pulser
// sequence, its variables and the number of runs), runs it on the project's
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
	"bytes"
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
	"github.com/tweezer-dev/tweezer/runners/emulator"
)

// DefaultDeviceType is the device the sequence is emulated on when the
// config names none.
const DefaultDeviceType = "EMU_FREE"

// MaxResultBytes caps the serialized result kept in the Workload's status,
// well under etcd's object size limit.
const MaxResultBytes = 1 << 20

// ConditionExecuted records the runner's outcome on the Workload: true when
// it produced a result, false with the reason when it could not.
const ConditionExecuted = "Executed"

// Config is the pulser_basic workload config of the REST API.
type Config struct {
	// SequenceBuilder is the serialized Pulser sequence (a JSON string; a
	// JSON object is accepted too).
	SequenceBuilder json.RawMessage `json:"sequence_builder"`
	// Variables are substituted into the sequence.
	Variables json.RawMessage `json:"variables"`
	// Runs is the number of shots.
	Runs int `json:"runs"`
	// DeviceType is the emulated device (optional, default EMU_FREE).
	DeviceType string `json:"device_type"`
	// Seed makes the sampling reproducible (optional, 0 = random).
	Seed int64 `json:"seed"`
	// Configuration is passed to the emulator as a batch configuration (optional).
	Configuration json.RawMessage `json:"configuration"`
}

// ParseConfig reads and checks a pulser_basic config into an emulator request.
func ParseConfig(raw []byte) (emulator.Request, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&c); err != nil {
		return emulator.Request{}, fmt.Errorf("config: not a pulser_basic config object: %w", err)
	}
	seq := bytes.TrimSpace(c.SequenceBuilder)
	switch {
	case len(seq) == 0 || string(seq) == "null":
		return emulator.Request{}, errors.New("config.sequence_builder: required")
	case seq[0] == '"':
		var s string
		if err := json.Unmarshal(seq, &s); err != nil {
			return emulator.Request{}, fmt.Errorf("config.sequence_builder: %w", err)
		}
		seq = []byte(s)
	case seq[0] != '{':
		return emulator.Request{}, errors.New("config.sequence_builder: must be a serialized Pulser sequence (a JSON string or object)")
	}
	if c.Runs < 1 || c.Runs > emulator.MaxRuns {
		return emulator.Request{}, fmt.Errorf("config.runs: must be between 1 and %d, got %d", emulator.MaxRuns, c.Runs)
	}
	if v := bytes.TrimSpace(c.Variables); len(v) > 0 && string(v) != "null" && v[0] != '{' {
		return emulator.Request{}, errors.New("config.variables: must be an object")
	}
	req := emulator.Request{
		Sequence: seq, Runs: c.Runs, Seed: c.Seed, DeviceType: c.DeviceType,
		Variables: nullToNil(c.Variables), Configuration: nullToNil(c.Configuration),
	}
	if req.DeviceType == "" {
		req.DeviceType = DefaultDeviceType
	}
	return req, nil
}

func nullToNil(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return nil
	}
	return raw
}

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
	req, err := ParseConfig(wl.Spec.Config.Raw)
	if err != nil {
		return r.finish(ctx, key, nil, err)
	}
	if stop, err := r.update(ctx, key, func(wl *quantumv1alpha1.Workload) {
		now := metav1.Now()
		wl.Status.Phase = quantumv1alpha1.BatchRunning
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
			wl.Status.Phase = quantumv1alpha1.BatchError
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
		wl.Status.Phase = quantumv1alpha1.BatchDone
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
