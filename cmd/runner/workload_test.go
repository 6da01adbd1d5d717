package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

func TestWorkloadCommandArguments(t *testing.T) {
	var stderr bytes.Buffer
	if rc := dispatch([]string{"workload", "--name", "x"}, &bytes.Buffer{}, &stderr); rc != 2 || !strings.Contains(stderr.String(), "--namespace and --name are required") {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
	stderr.Reset()
	if rc := dispatch([]string{"workload", "--namespace", "p", "--name", "x", "--kubeconfig", "/nonexistent/kubeconfig"}, &bytes.Buffer{}, &stderr); rc != 1 || !strings.Contains(stderr.String(), "loading the cluster configuration") {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
}

// The subcommand as a runner pod runs it, against a real API server.
func TestWorkloadCommandRunsAPulserBasicWorkload(t *testing.T) {
	env, err := controlplane.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: controlplane.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := testenv.ProjectNamespace("p-workload")
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	seq := `{"version":"1","name":"pi","register":[{"name":"q0","x":0,"y":0},{"name":"q1","x":0,"y":50}],"device":"MockDevice",` +
		`"channels":{"g":"rydberg_global"},"variables":{},"measurement":"ground-rydberg",` +
		`"operations":[{"op":"pulse","channel":"g","protocol":"min-delay","phase":0.0,"post_phase_shift":0.0,` +
		`"amplitude":{"kind":"constant","duration":500,"value":6.283185307179586},"detuning":{"kind":"constant","duration":500,"value":0.0}}]}`
	cfgJSON := `{"sequence_builder":` + strconv.Quote(seq) + `,"runs":12}`
	wl := &v1.Workload{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "wl"},
		Spec: v1.WorkloadSpec{WorkloadType: "algorithm_dqgm", Backend: v1.BackendPulserBasic, Config: &apiextensionsv1.JSON{Raw: []byte(cfgJSON)}}}
	if err := c.Create(ctx, wl); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if rc := dispatch([]string{"workload", "--namespace", ns.Name, "--name", "wl", "--kubeconfig", kubeconfig}, &bytes.Buffer{}, &stderr); rc != 0 {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(wl), wl); err != nil {
		t.Fatal(err)
	}
	if wl.Status.Phase != v1.WorkloadDone || wl.Status.Result == nil || string(wl.Status.Result.Raw) != `{"counter":{"11":12}}` {
		t.Fatalf("status %+v", wl.Status)
	}
	stderr.Reset()
	if rc := dispatch([]string{"workload", "--namespace", ns.Name, "--name", "gone", "--kubeconfig", kubeconfig}, &bytes.Buffer{}, &stderr); rc != 1 || !strings.Contains(stderr.String(), "reading workload "+ns.Name+"/gone") {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
}
