package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/learner"
	"github.com/tweezer-dev/tweezer/controllers/workload"
)

// Flags of the Workload and notebook reconcilers.
var (
	notebookImage     = flag.String("notebook-image", learner.DefaultSettings().Image, "image of learners' notebook servers (runs `jupyter notebook`)")
	notebookCPU       = flag.String("notebook-cpu", "100m:1", "CPU request:limit of a notebook server")
	notebookMemory    = flag.String("notebook-memory", "256Mi:1Gi", "memory request:limit of a notebook server")
	notebookIdle      = flag.Duration("notebook-idle-timeout", learner.DefaultSettings().IdleTimeout, "a notebook server idle this long is culled")
	notebookJupyter   = flag.String("notebook-jupyter", "jupyter", "jupyter command of local notebook servers (process executor)")
	notebookPublicURL = flag.String("notebook-public-url", "", "base URL of the ingress serving /notebooks/<namespace>/<server>/ (default: the Service's in-cluster URL)")
)

// setupWorkloadsAndLearners registers the Workload reconciler, with its own
// executor of the same kind as the batches', and the notebook reconciler.
func setupWorkloadsAndLearners(mgr ctrl.Manager, execKind, runnerBinary, runnerKubeconfig, namespace string) error {
	var exec executor.Executor
	switch execKind {
	case "pod":
		exec = &executor.Pod{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()}
	case "process":
		exec = executor.NewProcess(runnerBinary, runnerKubeconfig, os.Stderr)
	default:
		return fmt.Errorf("--executor must be pod or process, not %q", execKind)
	}
	if err := (&workload.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tweezer-workload"),
		Executor: exec, Namespace: namespace,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: *notebookCPU, corev1.ResourceMemory: *notebookMemory} {
		if err := requestLimit(res, name, v); err != nil {
			return err
		}
	}
	nr := &learner.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tweezer-notebooks"),
		Settings: learner.Settings{Image: *notebookImage, Resources: res, IdleTimeout: *notebookIdle, PublicURL: *notebookPublicURL},
	}
	if execKind == "process" {
		nr.Local = learner.NewLocal(*notebookJupyter) // local mode: `jupyter notebook` processes
	}
	return nr.SetupWithManager(mgr)
}

// requestLimit reads "request:limit" (either may be empty) into res.
func requestLimit(res corev1.ResourceRequirements, name corev1.ResourceName, v string) error {
	req, lim, _ := strings.Cut(v, ":")
	for _, p := range []struct {
		s    string
		into corev1.ResourceList
	}{{req, res.Requests}, {lim, res.Limits}} {
		if p.s == "" {
			continue
		}
		q, err := resource.ParseQuantity(p.s)
		if err != nil {
			return fmt.Errorf("--notebook-%s: %w", name, err)
		}
		p.into[name] = q
	}
	return nil
}
