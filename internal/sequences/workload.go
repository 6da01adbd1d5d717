package sequences

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// errNoConfig is the error of a workload's ConfigMap without WorkloadKey.
var errNoConfig = errors.New("no key " + WorkloadKey)

// WorkloadKey holds a workload's config in its config ConfigMap.
const WorkloadKey = "config"

// WorkloadConfigMapName is the name of the config ConfigMap of a workload.
func WorkloadConfigMapName(workload string) string { return workload + "-config" }

// SplitWorkload moves w's config into a ConfigMap when it exceeds inline
// bytes, sets spec.configFrom, and returns the ConfigMap to create once the
// workload exists (OwnWorkload sets its owner); nil when the config stays
// in the spec: inline < 0, or more than a ConfigMap holds (1 MiB).
func SplitWorkload(w *quantumv1alpha1.Workload, inline int) *corev1.ConfigMap {
	if w.Spec.Config == nil {
		return nil
	}
	n := len(w.Spec.Config.Raw)
	if inline < 0 || n <= inline || n > corev1.MaxSecretSize {
		return nil
	}
	cm := immutableConfigMap(w.Namespace, WorkloadConfigMapName(w.Name), nil, map[string]string{WorkloadKey: string(w.Spec.Config.Raw)})
	w.Spec.Config, w.Spec.ConfigFrom = nil, cm.Name
	return cm
}

// OwnWorkload makes the workload w the owner of its config ConfigMap cm,
// so that deleting the workload deletes it.
func OwnWorkload(cm *corev1.ConfigMap, w *quantumv1alpha1.Workload) { own(cm, "Workload", w) }

// WorkloadConfig is the config of w: its spec's, or what its config
// ConfigMap holds when it names one (read with r); nil when it has neither.
// What the spec holds wins. A named ConfigMap that is
// missing, or not owned by w, is an error that says so (Missing).
func WorkloadConfig(ctx context.Context, r client.Reader, w *quantumv1alpha1.Workload) ([]byte, error) {
	switch {
	case w.Spec.Config != nil:
		return w.Spec.Config.Raw, nil
	case w.Spec.ConfigFrom == "":
		return nil, nil
	}
	data, err := read(ctx, r, "workload", w, w.Spec.ConfigFrom)
	if err != nil {
		return nil, fmt.Errorf("reading the config of workload %s (ConfigMap %s, spec.configFrom): %w", w.Name, w.Spec.ConfigFrom, err)
	}
	raw, ok := data[WorkloadKey]
	if !ok {
		return nil, fmt.Errorf("reading the config of workload %s (ConfigMap %s, spec.configFrom): %w", w.Name, w.Spec.ConfigFrom, errNoConfig)
	}
	return []byte(raw), nil
}

// ServedWorkloadConfig is WorkloadConfig for the facade's documents: a
// ConfigMap that is gone or not the workload's own reads as no config.
func ServedWorkloadConfig(ctx context.Context, r client.Reader, w *quantumv1alpha1.Workload) ([]byte, error) {
	raw, err := WorkloadConfig(ctx, r, w)
	if Missing(err) {
		return nil, nil
	}
	return raw, err
}
