package main

import (
	"flag"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tweezer-dev/tweezer/controllers/project"
)

// Flags of the project guard rails (controllers/project).
var (
	projectQuotas    = flag.Bool("project-quotas", true, "keep a ResourceQuota and a LimitRange in every project namespace (needs kube-controller-manager's resource quota controller, as every cluster has)")
	projectQuota     = flag.String("project-quota", project.DefaultQuota, "default object counts of a project's ResourceQuota (keys: batches, jobs, workloads, learners, pods); a namespace overrides some with the annotation quantum.tweezer.dev/quota")
	podDefaultCPU    = flag.String("pod-default-cpu", "100m:2", "CPU request:limit that a project's LimitRange gives containers that set none")
	podDefaultMemory = flag.String("pod-default-memory", "256Mi:2Gi", "memory request:limit that a project's LimitRange gives containers that set none")
)

// setupProjects registers the project reconciler unless --project-quotas=false.
func setupProjects(mgr ctrl.Manager) error {
	if !*projectQuotas {
		return nil
	}
	quota, err := project.ParseQuota(*projectQuota)
	if err != nil {
		return fmt.Errorf("--project-quota: %w", err)
	}
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for flagName, p := range map[string]struct {
		name corev1.ResourceName
		v    string
	}{"pod-default-cpu": {corev1.ResourceCPU, *podDefaultCPU}, "pod-default-memory": {corev1.ResourceMemory, *podDefaultMemory}} {
		if err := requestLimit(res, p.name, p.v); err != nil {
			return fmt.Errorf("--%s: %w", flagName, err)
		}
	}
	return (&project.Reconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("tweezer-project"),
		Settings: project.Settings{Quota: quota, Container: res},
	}).SetupWithManager(mgr)
}
