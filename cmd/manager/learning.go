package main

import (
	"flag"
	"fmt"
	"net"
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
	notebookImage     = flag.String("notebook-image", learner.DefaultSettings().Image, "image of learners' notebook servers (runs `jupyter notebook`; see controllers/learner/README.md)")
	notebookFlavour   = flag.String("notebook-flavour", string(learner.DefaultSettings().Flavour), "Jupyter of --notebook-image: server (notebook 7, Jupyter Server) or classic (notebook 6); local mode detects it")
	notebookCPU       = flag.String("notebook-cpu", "100m:1", "CPU request:limit of a notebook server")
	notebookMemory    = flag.String("notebook-memory", "256Mi:1Gi", "memory request:limit of a notebook server")
	notebookIdle      = flag.Duration("notebook-idle-timeout", learner.DefaultSettings().IdleTimeout, "a notebook server idle this long is culled")
	notebookJupyter   = flag.String("notebook-jupyter", "jupyter", "jupyter command of local notebook servers (process executor; hack/jupyter/install.sh installs one)")
	notebookDataDir   = flag.String("notebook-data-dir", ".tweezer", "folder of local notebook servers' workspaces (notebooks/) and logs (logs/) (process executor)")
	notebookPublicURL = flag.String("notebook-public-url", "", "base URL of the ingress serving /notebooks/<namespace>/<server>/ (default: the Service's in-cluster URL)")
	notebookIngressNS = flag.String("notebook-ingress-namespace", "", "namespace of the ingress controller serving --notebook-public-url, let into notebook servers by their NetworkPolicy")
	notebookAPIURL    = flag.String("notebook-api-url", learner.DefaultSettings().APIURL, "the facade's URL as notebooks reach it (TWEEZER_API_URL, for the SDK)")
	notebookFacade    = flag.String("notebook-facade-account", learner.DefaultSettings().Facade, "namespace/name of the facade's service account, which reads notebook tokens and reaches notebook servers")
	notebookInternal  = flag.String("notebook-internal-cidrs", strings.Join(learner.DefaultSettings().InternalCIDRs, ","), "the cluster's internal ranges, which notebook servers may not reach (nor 169.254.169.254)")
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
			return fmt.Errorf("--notebook-%s: %w", name, err)
		}
	}
	flavour, err := learner.ParseFlavour(*notebookFlavour)
	if err != nil {
		return fmt.Errorf("--notebook-flavour: %w", err)
	}
	if ns, name, ok := strings.Cut(*notebookFacade, "/"); !ok || ns == "" || name == "" {
		return fmt.Errorf("--notebook-facade-account must be namespace/name, not %q", *notebookFacade)
	}
	var cidrs []string
	for _, c := range strings.Split(*notebookInternal, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(c); err != nil {
			return fmt.Errorf("--notebook-internal-cidrs: %w", err)
		}
		cidrs = append(cidrs, c)
	}
	nr := &learner.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tweezer-notebooks"),
		Settings: learner.Settings{Image: *notebookImage, Flavour: flavour, Resources: res, IdleTimeout: *notebookIdle, PublicURL: *notebookPublicURL,
			APIURL: *notebookAPIURL, Facade: *notebookFacade, IngressNamespace: *notebookIngressNS, InternalCIDRs: cidrs},
	}
	if execKind == "process" {
		// local mode: `jupyter notebook` processes, reaching the facade as the learner does
		nr.Local = learner.NewLocal(*notebookJupyter, *notebookDataDir)
		nr.Local.APIURL = *notebookAPIURL
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
			return err
		}
		p.into[name] = q
	}
	return nil
}
