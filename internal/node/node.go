// Package node runs a real Kubernetes node on this machine, beside the
// private control plane of local mode and the tests: containerd (its own
// configuration, root, state and socket under the node's folder), a kubelet
// registered as one Node, and kube-scheduler, with the bridge CNI on a
// bridge of the node's own. Runner and notebook Pods then really run, from
// images built locally (`make image`, package ociimage) and imported into
// that containerd: the kubelet pulls nothing.
//
// Pods reach kube-apiserver the way they do in any cluster, through the
// `kubernetes` Service, without kube-proxy: the Service range is the bottom
// of the node's subnet, so the Service's address is the bridge's own
// address, where kube-apiserver listens on port 443.
//
// Stop tears everything down: pod sandboxes (through the CRI, which also
// removes their network namespaces), containerd and its shims, the kubelet's
// mounts, the node's cgroups and the bridge.
package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tweezer-dev/tweezer/internal/childproc"
)

// The images every node has; `make image` builds them (BuildImages).
const (
	// TweezerImage holds the runner, the manager and the facade; runner
	// pods run it. Not :latest, so its pull policy defaults to IfNotPresent.
	TweezerImage = "tweezer.local/tweezer:dev"
	// PauseImage is the pod sandbox image.
	PauseImage = "tweezer.local/pause:v1"
	// NotebookImage is the notebook stand-in (hack/image/notebook), which the
	// manager's --notebook-image maps learners' notebook servers to: a
	// Jupyter image cannot be built offline.
	NotebookImage = "tweezer.local/notebook:dev"
	// NodeName is the name the kubelet registers.
	NodeName = "tweezer-node"
	// apiServerPort is kube-apiserver's port on the bridge address: the
	// `kubernetes` Service's port, since no proxy translates it.
	apiServerPort = "443"
)

// Options say where the node keeps its state and finds its binaries.
type Options struct {
	// Dir holds everything of the node: configuration, containerd's root
	// and state, the kubelet's root, pod logs, certificates and logs.
	Dir string
	// BinDir holds kubelet and kube-scheduler (hack/node-bins.sh prints it).
	BinDir string
	// Images are OCI image tarballs imported into containerd at start
	// (BuildImages writes them); they must include PauseImage.
	Images []string
	// CNIBinDir holds the CNI plugins (bridge, host-local, loopback);
	// default Debian's /usr/lib/cni.
	CNIBinDir string
	// Progress receives one line per step.
	Progress io.Writer
}

// Node is a prepared, then running, node.
type Node struct {
	opts Options

	// Bridge is the name of the node's bridge.
	Bridge string
	// Subnet is the node's subnet: the Service range at its bottom (a
	// /28), pod addresses above.
	Subnet *net.IPNet
	// Gateway is the bridge's address: pods' gateway, kube-apiserver's
	// listen address and the `kubernetes` Service's ClusterIP.
	Gateway net.IP
	// CgroupRoot is the cgroup under which the kubelet puts every pod.
	CgroupRoot string
	// CAFile is the CA of kube-apiserver's serving certificate.
	CAFile string

	kubeletPort int
	containerd  *childproc.Process
	kubelet     *childproc.Process
	scheduler   *childproc.Process
}

// Prepare checks that this machine can run a node, claims a bridge and a
// subnet, and writes the control plane's certificates; the control plane
// is then started with ConfigureAPIServer applied, and the node with
// Start. On error nothing is left behind.
func Prepare(opts Options) (_ *Node, err error) {
	if opts.CNIBinDir == "" {
		opts.CNIBinDir = "/usr/lib/cni"
	}
	if err := checkHost(opts); err != nil {
		return nil, err
	}
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	n := &Node{opts: opts}
	defer func() {
		if err != nil {
			_ = n.Stop()
		}
	}()
	if err := n.claimBridge(); err != nil {
		return nil, err
	}
	n.CgroupRoot = "/tweezer-" + n.Bridge
	if err := n.makeCgroupRoot(); err != nil {
		return nil, err
	}
	if _, err := writePKI(n.path("pki"), []net.IP{n.Gateway}); err != nil {
		return nil, fmt.Errorf("writing the control plane's certificates: %w", err)
	}
	n.CAFile = n.path("pki", "ca.crt")
	if n.kubeletPort, err = freePort(n.Gateway); err != nil {
		return nil, err
	}
	return n, nil
}

// checkHost reports what this machine lacks to run a node, all at once.
func checkHost(opts Options) error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (containerd and the kubelet mount, and make cgroups and network namespaces)")
	}
	for _, b := range []string{filepath.Join(opts.BinDir, "kubelet"), filepath.Join(opts.BinDir, "kube-scheduler")} {
		if _, err := os.Stat(b); err != nil {
			missing = append(missing, b+" (hack/node-bins.sh builds it)")
		}
	}
	for _, c := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c+" in PATH (hack/node-bins.sh installs Debian's containerd and runc)")
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(opts.CNIBinDir, p)); err != nil {
			missing = append(missing, "CNI plugin "+filepath.Join(opts.CNIBinDir, p)+" (Debian's containernetworking-plugins)")
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		missing = append(missing, "cgroups mounted at /sys/fs/cgroup")
	}
	if len(missing) > 0 {
		return fmt.Errorf("this machine cannot run a node; missing: %s", strings.Join(missing, "; "))
	}
	return nil
}

// claimBridge creates the node's bridge on the first free 10.244.N.0/24;
// creating it is the claim, so parallel nodes never share one.
func (n *Node) claimBridge() error {
	used, err := usedNets()
	if err != nil {
		return err
	}
	var lastErr error
	for i := 0; i < 256; i++ {
		_, subnet, _ := net.ParseCIDR(fmt.Sprintf("10.244.%d.0/24", i))
		if overlaps(subnet, used) {
			continue
		}
		name := fmt.Sprintf("twz%d", i)
		if out, err := exec.Command("ip", "link", "add", "name", name, "type", "bridge").CombinedOutput(); err != nil {
			lastErr = fmt.Errorf("ip link add %s: %v: %s", name, err, bytes.TrimSpace(out))
			continue
		}
		n.Bridge, n.Subnet = name, subnet
		n.Gateway = net.IPv4(10, 244, byte(i), 1).To4()
		for _, args := range [][]string{
			{"addr", "add", n.Gateway.String() + "/24", "dev", name},
			{"link", "set", name, "up"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
			}
		}
		return nil
	}
	if lastErr == nil {
		lastErr = errors.New("every 10.244.N.0/24 is in use")
	}
	return fmt.Errorf("creating the node's bridge: %w", lastErr)
}

func usedNets() ([]*net.IPNet, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var nets []*net.IPNet
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			nets = append(nets, ipn)
		}
	}
	return nets, nil
}

func overlaps(a *net.IPNet, others []*net.IPNet) bool {
	for _, b := range others {
		if a.Contains(b.IP) || b.Contains(a.IP) {
			return true
		}
	}
	return false
}

// ServiceCIDR is the Service range: the bottom /28 of the subnet, whose
// first address, the `kubernetes` Service's, is the bridge's.
func (n *Node) ServiceCIDR() string {
	return (&net.IPNet{IP: n.Subnet.IP, Mask: net.CIDRMask(28, 32)}).String()
}

func (n *Node) firstPodIP() net.IP {
	ip := n.Subnet.IP.To4()
	return net.IPv4(ip[0], ip[1], ip[2], 16).To4()
}

// ConfigureAPIServer makes envtest's kube-apiserver serve the node's
// certificates on the bridge address, port 443, with the node's Service
// range, and admit pods with the ServiceAccount plugin (envtest disables
// it), which mounts their service account token.
func (n *Node) ConfigureAPIServer(api *envtest.APIServer) error {
	ca, err := os.ReadFile(n.CAFile)
	if err != nil {
		return err
	}
	api.CertDir = n.path("pki")
	api.SecureServing.CA = ca
	api.SecureServing.Address = n.Gateway.String()
	api.SecureServing.Port = apiServerPort
	// A retry cannot pick another port: give one start the time a loaded
	// machine needs (kube-apiserver took 45 s on ours).
	api.StartTimeout = 3 * time.Minute
	api.Configure().
		Set("service-cluster-ip-range", n.ServiceCIDR()).
		Set("advertise-address", n.Gateway.String()).
		Set("disable-admission-plugins", "").
		Set("enable-admission-plugins", "ServiceAccount")
	return nil
}

// ControllerManagerArgs are kube-controller-manager's arguments on a node:
// besides local mode's garbage collector, namespace and resource quota
// controllers, the controllers that pods need (service accounts, the
// kube-root-ca.crt ConfigMap that their token volume holds, Jobs, and the
// EndpointSlices through which the facade reaches notebook servers).
func (n *Node) ControllerManagerArgs() []string {
	return []string{
		"--controllers", "garbage-collector-controller,namespace-controller,resourcequota-controller,serviceaccount-controller,root-ca-certificate-publisher-controller,job-controller,endpointslice-controller",
		"--root-ca-file", n.CAFile,
	}
}

// Start starts containerd, imports the images, and starts kube-scheduler
// and the kubelet against the control plane of kubeconfig (an
// administrator's); it returns once the Node is Ready.
func (n *Node) Start(ctx context.Context, kubeconfig string) error {
	if err := n.writeConfigs(); err != nil {
		return err
	}
	n.step("starting containerd (socket %s)", n.socket())
	var err error
	if n.containerd, err = n.spawn("containerd", "containerd", "--config", n.path("containerd", "config.toml")); err != nil {
		return err
	}
	if err := n.waitContainerd(ctx); err != nil {
		return err
	}
	for _, img := range n.opts.Images {
		n.step("importing %s", filepath.Base(img))
		if err := n.ctr(ctx, "images", "import", img); err != nil {
			return err
		}
	}
	n.step("starting kube-scheduler")
	if n.scheduler, err = n.spawn("kube-scheduler", filepath.Join(n.opts.BinDir, "kube-scheduler"),
		"--kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0"); err != nil {
		return err
	}
	n.step("starting the kubelet as Node %s (cgroups under %s, pods on %s %s)", NodeName, n.CgroupRoot, n.Bridge, n.Subnet)
	if n.kubelet, err = n.spawn("kubelet", filepath.Join(n.opts.BinDir, "kubelet"),
		"--config", n.path("kubelet", "config.yaml"),
		"--kubeconfig", kubeconfig,
		"--root-dir", n.path("kubelet", "root"),
		"--cert-dir", n.path("kubelet", "pki"),
		"--hostname-override", NodeName,
		"--node-ip", n.Gateway.String(),
		"--v", "2"); err != nil {
		return err
	}
	return n.waitReady(ctx, kubeconfig)
}

func (n *Node) step(format string, args ...any) {
	if n.opts.Progress != nil {
		fmt.Fprintf(n.opts.Progress, "==> "+format+"\n", args...)
	}
}

// waitContainerd waits until containerd answers on its socket.
func (n *Node) waitContainerd(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := exec.CommandContext(ctx, "ctr", "--address", n.socket(), "version").Run()
		if err == nil {
			return nil
		}
		select {
		case <-n.containerd.Done():
			return fmt.Errorf("containerd exited: %v; %s", n.containerd.Err(), n.logTail("containerd"))
		case <-ctx.Done():
			return fmt.Errorf("containerd did not answer on %s within 30s; %s", n.socket(), n.logTail("containerd"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ctr runs ctr against the node's containerd, in the CRI's namespace.
func (n *Node) ctr(ctx context.Context, args ...string) error {
	args = append([]string{"--address", n.socket(), "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// waitReady waits until the Node is registered and Ready.
func (n *Node) waitReady(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	last := "not registered"
	for {
		node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady {
					if c.Status == corev1.ConditionTrue {
						n.step("Node %s is Ready", NodeName)
						return untaintNotReady(ctx, cs, node)
					}
					last = fmt.Sprintf("Ready=%s: %s %s", c.Status, c.Reason, c.Message)
				}
			}
		}
		select {
		case <-n.kubelet.Done():
			return fmt.Errorf("the kubelet exited: %v; %s", n.kubelet.Err(), n.logTail("kubelet"))
		case <-n.containerd.Done():
			return fmt.Errorf("containerd exited: %v; %s", n.containerd.Err(), n.logTail("containerd"))
		case <-ctx.Done():
			return fmt.Errorf("Node %s not Ready within 2 minutes (%s); %s", NodeName, last, n.logTail("kubelet"))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// untaintNotReady removes the not-ready taint that the kubelet registers
// its Node with, as the node lifecycle controller does in a cluster once the
// Node is Ready (that controller's pod eviction has no use on one node).
func untaintNotReady(ctx context.Context, cs kubernetes.Interface, node *corev1.Node) error {
	for {
		var kept []corev1.Taint
		for _, t := range node.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				kept = append(kept, t)
			}
		}
		if len(kept) == len(node.Spec.Taints) {
			return nil
		}
		node.Spec.Taints = kept
		_, err := cs.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			if err != nil {
				return fmt.Errorf("removing the not-ready taint of Node %s: %w", node.Name, err)
			}
			return nil
		}
		if node, err = cs.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}

// logTail is the end of a component's log, for error messages.
func (n *Node) logTail(name string) string {
	p := n.path("logs", name+".log")
	b, err := os.ReadFile(p)
	if err != nil {
		return "no log at " + p
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var errs []string
	for _, l := range lines {
		if strings.HasPrefix(l, "E") || strings.Contains(l, "level=error") || strings.Contains(l, "level=fatal") || strings.HasPrefix(l, "F") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 8 {
		errs = errs[len(errs)-8:]
	}
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return fmt.Sprintf("log %s, errors:\n%s\nlast lines:\n%s", p, strings.Join(errs, "\n"), strings.Join(lines, "\n"))
}

func (n *Node) spawn(name, path string, args ...string) (*childproc.Process, error) {
	return childproc.Start(path, n.path("logs", name+".log"), &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}, args...)
}

func freePort(ip net.IP) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
