// Package local runs the whole platform on one machine: a private control
// plane (the etcd and kube-apiserver that the tests use), the CRDs, RBAC and
// default devices, the built-in emulated QPU gateway (`runner gateway`, a
// process of its own), the manager with the Process executor, the REST
// facade, and a demo project with a token.
// `make run` (cmd/local) and the end-to-end test start it the same way.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/childproc"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/node"
)

// SystemNamespace holds the manager's QPU leases, as tweezer-system does in a cluster.
const SystemNamespace = "tweezer-system"

// Options say where the platform keeps its data, finds its binaries and listens.
type Options struct {
	// DataDir holds etcd's data, the kubeconfig, the results-link key and logs.
	DataDir string
	// BinDir holds the manager, apiserver and runner binaries.
	BinDir string
	// FacadeAddr is the REST facade's listen address, e.g. 127.0.0.1:8000.
	FacadeAddr string
	// GatewayAddr is the emulated QPU gateway's listen address; with Node,
	// its port on the node's bridge address, where runner pods reach it.
	GatewayAddr string
	// ControllerManager is the path of a kube-controller-manager binary
	// (hack/local-bins.sh builds one) run with the garbage collector and the
	// namespace controller, so that deleting a Batch deletes its Jobs and
	// results. Empty runs none: owner references are then not acted on.
	ControllerManager string
	// Progress receives one line per step.
	Progress io.Writer
	// Jupyter is the jupyter command of learners' notebook servers
	// (hack/jupyter/install.sh prints it); empty means `jupyter` in PATH.
	Jupyter string
	// NotebookIdle is the idle time after which a notebook server is culled
	// (the manager's default when zero).
	NotebookIdle time.Duration
	// Node, when set, runs a real node (package node: containerd, a
	// kubelet and kube-scheduler) and the manager with the Pod executor, so
	// that runners are Pods from node.TweezerImage. It needs
	// ControllerManager (service accounts and their CA for pods).
	Node *node.Options
}

// Platform is a running local platform.
type Platform struct {
	opts Options
	env  *envtest.Environment

	// Admin is a client with cluster-admin rights on the private control plane.
	Admin client.Client
	// Kubeconfig is the path of an admin kubeconfig for kubectl.
	Kubeconfig string
	// FacadeURL is the base URL of the REST facade (the SDK's `core`).
	FacadeURL string
	// ProjectID is the demo project's id.
	ProjectID string
	// Token is a bearer token of the demo project's user.
	Token string

	gateway *childproc.Process
	manager *childproc.Process
	facade  *childproc.Process
	kcm     *childproc.Process
	// Node is the real node, with Options.Node.
	Node *node.Node
}

// Start brings the platform up. On error, everything already started is stopped.
func Start(ctx context.Context, opts Options) (_ *Platform, err error) {
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, err
	}
	p := &Platform{opts: opts, FacadeURL: "http://" + opts.FacadeAddr, ProjectID: DemoProjectID}
	defer func() {
		if err != nil {
			if serr := p.Stop(); serr != nil {
				err = fmt.Errorf("%w (and tearing down: %v)", err, serr)
			}
		}
	}()

	var configure func(*envtest.APIServer) error
	if opts.Node != nil {
		if opts.ControllerManager == "" {
			return nil, errors.New("a node needs kube-controller-manager (hack/local-bins.sh builds it)")
		}
		p.step("preparing a node in %s", opts.Node.Dir)
		if p.Node, err = node.Prepare(*opts.Node); err != nil {
			return nil, err
		}
		configure = p.Node.ConfigureAPIServer
		// QPU runner pods reach the emulated gateway on the node's bridge
		// address (in a pod, 127.0.0.1 is the pod's own loopback); the
		// FRESNEL device's URL names it.
		_, port, err := net.SplitHostPort(opts.GatewayAddr)
		if err != nil {
			return nil, fmt.Errorf("the gateway address %q: %w", opts.GatewayAddr, err)
		}
		opts.GatewayAddr = net.JoinHostPort(p.Node.Gateway.String(), port)
		p.opts.GatewayAddr = opts.GatewayAddr
	}
	p.step("starting etcd and kube-apiserver (data in %s)", filepath.Join(opts.DataDir, "etcd"))
	var cfg *rest.Config
	p.env, cfg, p.Kubeconfig, err = startControlPlane(opts.DataDir, configure)
	if err != nil {
		return nil, err
	}
	if p.Admin, err = client.New(cfg, client.Options{Scheme: controlplane.Scheme()}); err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}

	p.step("installing RBAC roles, the default devices and the workload image mapping")
	if err := createIfMissing(ctx, p.Admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNamespace}}); err != nil {
		return nil, err
	}
	root := controlplane.RepoRoot()
	// config/workloads maps each workload type to its runner image, as
	// config/default installs it; the Process executor runs the local runner
	// binary whatever the image, but a workload without a mapping fails.
	for _, dir := range []string{filepath.Join(root, "config", "rbac", "roles"), filepath.Join(root, "config", "rbac"), filepath.Join(root, "config", "workloads")} {
		if err := applyDir(ctx, p.Admin, dir); err != nil {
			return nil, err
		}
	}
	if err := ensureDevices(ctx, p.Admin, "http://"+opts.GatewayAddr, ""); err != nil {
		return nil, err
	}

	p.step("creating the demo project %s", p.ProjectID)
	if p.Token, err = ensureProject(ctx, p.Admin, cs, p.ProjectID); err != nil {
		return nil, err
	}

	if err := p.startControllerManager(); err != nil {
		return nil, err
	}
	if p.Node != nil {
		if err := p.Node.Start(ctx, p.Kubeconfig); err != nil {
			return nil, err
		}
	}
	if err := p.StartGateway(); err != nil {
		return nil, err
	}
	if err := p.StartManager(); err != nil {
		return nil, err
	}
	if err := p.awaitQuota(ctx); err != nil {
		return nil, err
	}
	if err := p.StartFacade(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Platform) step(format string, args ...any) {
	if p.opts.Progress != nil {
		fmt.Fprintf(p.opts.Progress, "==> "+format+"\n", args...)
	}
}

// startControllerManager runs kube-controller-manager's garbage collector and
// namespace controller on the private control plane, when one is given.
func (p *Platform) startControllerManager() error {
	if p.opts.ControllerManager == "" {
		p.step("no kube-controller-manager given: deleting a batch leaves its jobs (hack/local-bins.sh builds one)")
		return nil
	}
	args := []string{
		"--kubeconfig", p.Kubeconfig,
		"--controllers", "garbage-collector-controller,namespace-controller,resourcequota-controller",
		"--leader-elect=false",
		"--secure-port", "0",
		"--use-service-account-credentials=false",
	}
	if p.Node != nil {
		p.step("starting kube-controller-manager (garbage collector, namespace, resource quota, service account, root CA, job and endpoint slice controllers)")
		args = append(args, p.Node.ControllerManagerArgs()...) // a later --controllers wins
	} else {
		p.step("starting kube-controller-manager (garbage collector, namespace and resource quota controllers)")
	}
	kcm, err := p.spawnPath(p.opts.ControllerManager, "kube-controller-manager", args...)
	p.kcm = kcm
	return err
}

// awaitQuota waits, when the manager keeps project quotas, until the demo
// project's ResourceQuota has its usage computed: until then kube-apiserver
// refuses every batch of the project ("status unknown for quota").
func (p *Platform) awaitQuota(ctx context.Context) error {
	if p.opts.ControllerManager == "" {
		return nil
	}
	p.step("waiting for the demo project's quota")
	counted := corev1.ResourceName("count/batches." + v1.GroupVersion.Group)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		q := &corev1.ResourceQuota{}
		err := p.Admin.Get(ctx, client.ObjectKey{Namespace: p.ProjectID, Name: v1.ProjectGuardRails}, q)
		if _, ok := q.Status.Used[counted]; err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the demo project's ResourceQuota %s has no usage after a minute (is the manager running? last error: %v)", v1.ProjectGuardRails, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StartGateway starts the built-in emulated QPU gateway (`runner gateway`).
// It authenticates runners with TokenReviews against the control plane.
func (p *Platform) StartGateway() error {
	p.step("starting the emulated QPU gateway on %s", p.opts.GatewayAddr)
	g, err := p.spawn("runner", "gateway",
		"--kubeconfig", p.Kubeconfig,
		"--listen", p.opts.GatewayAddr,
	)
	p.gateway = g
	return err
}

// StartManager starts the manager process with the Process executor, or
// the Pod executor on a node.
func (p *Platform) StartManager() error {
	args := []string{"--kubeconfig", p.Kubeconfig}
	if p.Node != nil {
		p.step("starting the manager (Pod executor, runner image %s)", node.TweezerImage)
		// Learners' notebook servers are Pods too, from the notebook
		// stand-in (the image-mapping hook, docs/node.md), reached through
		// the facade's /notebooks/ proxy.
		args = append(args, "--executor", "pod", "--runner-image", node.TweezerImage,
			"--notebook-image", node.NotebookImage, "--notebook-flavour", "server", "--notebook-public-url", p.FacadeURL)
	} else {
		p.step("starting the manager (Process executor)")
		args = append(args, "--executor", "process",
			"--runner-binary", filepath.Join(p.opts.BinDir, "runner"),
			"--runner-kubeconfig", p.Kubeconfig)
	}
	args = append(args,
		"--namespace", SystemNamespace,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
	)
	if p.opts.ControllerManager == "" {
		// No resource quota controller computes a quota's usage, and
		// kube-apiserver admits nothing a quota without usage counts.
		args = append(args, "--project-quotas=false")
	}
	// Notebook servers are local jupyter processes: workspaces and logs in
	// DataDir, reaching the facade as the learner does.
	args = append(args, "--notebook-data-dir", p.opts.DataDir, "--notebook-api-url", p.FacadeURL)
	if p.opts.Jupyter != "" {
		args = append(args, "--notebook-jupyter", p.opts.Jupyter)
	}
	if p.opts.NotebookIdle > 0 {
		args = append(args, "--notebook-idle-timeout", p.opts.NotebookIdle.String())
	}
	m, err := p.spawn("manager", args...)
	p.manager = m
	return err
}

// StopManager stops the manager process (its runners go on until their lease
// lapses or their batch ends).
func (p *Platform) StopManager() { p.manager.Stop(stopGrace) }

// StartFacade starts the REST facade and waits until it answers.
func (p *Platform) StartFacade(ctx context.Context) error {
	key, err := p.resultsKey()
	if err != nil {
		return err
	}
	p.step("starting the REST facade on %s", p.FacadeURL)
	f, err := p.spawn("apiserver",
		"--kubeconfig", p.Kubeconfig,
		"--listen", p.opts.FacadeAddr,
		"--public-url", p.FacadeURL,
		"--results-key", key,
	)
	p.facade = f
	if err != nil {
		return err
	}
	return f.AwaitHTTP(ctx, p.FacadeURL+"/openapi.json")
}

// StopFacade stops the REST facade process.
func (p *Platform) StopFacade() { p.facade.Stop(stopGrace) }

// Stop stops the facade, the manager, the gateway, the node and the
// control plane; data stays in DataDir. It returns what the node's teardown
// could not remove (nil without a node).
func (p *Platform) Stop() error {
	p.facade.Stop(stopGrace)
	p.manager.Stop(stopGrace)
	p.gateway.Stop(stopGrace)
	var err error
	if p.Node != nil {
		err = p.Node.Stop()
	}
	p.kcm.Stop(stopGrace)
	if p.env != nil {
		_ = p.env.Stop()
		p.env = nil
	}
	return err
}

// resultsKey is the key that signs results links, kept in DataDir so that
// links survive a restart of the facade.
func (p *Platform) resultsKey() (string, error) {
	path := filepath.Join(p.opts.DataDir, "results.key")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	key := hex.EncodeToString(buf)
	return key, os.WriteFile(path, []byte(key+"\n"), 0o600)
}

// spawn starts BinDir/name with args, logging to DataDir/logs/name.log.
func (p *Platform) spawn(name string, args ...string) (*childproc.Process, error) {
	return p.spawnPath(filepath.Join(p.opts.BinDir, name), name, args...)
}

// spawnPath starts the binary at path with args, logging to DataDir/logs/name.log.
func (p *Platform) spawnPath(path, name string, args ...string) (*childproc.Process, error) {
	return childproc.Start(path, filepath.Join(p.opts.DataDir, "logs", name+".log"), nil, args...)
}

// stopGrace is how long a platform process has to stop before it is killed.
const stopGrace = 10 * time.Second
