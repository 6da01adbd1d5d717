package executor

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
)

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func TestRunnerPodsCarryTheirDevicesRequestsAndLimits(t *testing.T) {
	p := &Pod{DefaultImage: "runner:v1"}
	batchRunner := func(res corev1.ResourceRequirements) Runner {
		return Runner{Spec: runnerspec.Spec{Kind: runnerspec.Batch, Namespace: "p", Name: "b"}, Generation: 1,
			Device: &quantumv1alpha1.Device{Spec: quantumv1alpha1.DeviceSpec{DeviceType: "EMU_SV", IsEmulator: true, Resources: res}}}
	}
	cases := []struct {
		name       string
		r          Runner
		req, limit corev1.ResourceList
	}{
		{"the device's own", batchRunner(corev1.ResourceRequirements{Requests: list("cpu", "1", "memory", "1Gi"), Limits: list("cpu", "3", "memory", "6Gi")}),
			list("cpu", "1", "memory", "1Gi"), list("cpu", "3", "memory", "6Gi")},
		{"a device without any: the defaults", batchRunner(corev1.ResourceRequirements{}),
			list("cpu", "250m", "memory", "512Mi"), list("cpu", "2", "memory", "2Gi")},
		{"a device with a low memory limit only: the default request is capped by it", batchRunner(corev1.ResourceRequirements{Limits: list("memory", "256Mi")}),
			list("cpu", "250m", "memory", "256Mi"), list("cpu", "2", "memory", "256Mi")},
		{"a workload runner: the defaults", Runner{Spec: runnerspec.Spec{Kind: runnerspec.Workload, Namespace: "p", Name: "w"}, Generation: 1},
			list("cpu", "250m", "memory", "512Mi"), list("cpu", "2", "memory", "2Gi")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pod, err := p.podFor(c.r)
			if err != nil {
				t.Fatal(err)
			}
			got := pod.Spec.Containers[0].Resources
			for _, want := range []struct {
				what      string
				got, want corev1.ResourceList
			}{{"requests", got.Requests, c.req}, {"limits", got.Limits, c.limit}} {
				if len(want.got) != len(want.want) {
					t.Errorf("%s %v, want %v", want.what, want.got, want.want)
				}
				for k, q := range want.want {
					if g, ok := want.got[k]; !ok || g.Cmp(q) != 0 {
						t.Errorf("%s %s = %v, want %v", want.what, k, want.got[k], q.String())
					}
				}
			}
		})
	}

	// The manager's defaults replace the built-in ones.
	p.DefaultResources = corev1.ResourceRequirements{Requests: list("cpu", "100m"), Limits: list("memory", "1Gi")}
	pod, err := p.podFor(batchRunner(corev1.ResourceRequirements{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := pod.Spec.Containers[0].Resources; got.Requests.Cpu().String() != "100m" || got.Limits.Memory().String() != "1Gi" || len(got.Requests)+len(got.Limits) != 2 {
		t.Errorf("manager defaults: %+v", got)
	}
}

func TestAnOOMKilledRunnerPodSaysItExceededItsMemoryLimit(t *testing.T) {
	oom := func(limits corev1.ResourceList) *corev1.Pod {
		return &corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "runner", Resources: corev1.ResourceRequirements{Limits: limits}}}},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "runner", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}},
			}}},
		}
	}
	got := podFailure(oom(list("cpu", "1", "memory", "24Mi")))
	want := "container runner exited with code 137; OOMKilled; the kernel killed it for using more than its memory limit of 24Mi (the device's resources.limits.memory)"
	if got != want {
		t.Errorf("OOMKilled with a limit:\n got %q\nwant %q", got, want)
	}
	if got := podFailure(oom(nil)); got != "container runner exited with code 137; OOMKilled; the kernel killed it for lack of memory" {
		t.Errorf("OOMKilled without a limit: %q", got)
	}
	killed := oom(list("memory", "24Mi"))
	killed.Status.ContainerStatuses[0].State.Terminated.Reason = "Error"
	if got := podFailure(killed); got != "container runner exited with code 137; Error" {
		t.Errorf("another failure names no memory limit: %q", got)
	}
}
