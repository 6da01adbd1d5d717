package node

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
)

func testNode() *Node {
	_, subnet, _ := net.ParseCIDR("10.244.7.0/24")
	return &Node{opts: Options{Dir: "/data/node", CNIBinDir: "/usr/lib/cni"}, Bridge: "twz7", Subnet: subnet, Gateway: net.ParseIP("10.244.7.1").To4(), CgroupRoot: "/tweezer-twz7", kubeletPort: 12345}
}

// The `kubernetes` Service's ClusterIP (the first address of the Service
// range) must be the bridge's address, and pods must get addresses above
// the Service range.
func TestServiceRangeStartsAtTheBridgeAddress(t *testing.T) {
	n := testNode()
	_, svc, err := net.ParseCIDR(n.ServiceCIDR())
	if err != nil {
		t.Fatal(err)
	}
	first := svc.IP.To4()
	first[3]++
	if !first.Equal(n.Gateway) {
		t.Errorf("first Service address %s, bridge %s", first, n.Gateway)
	}
	if svc.Contains(n.firstPodIP()) || !n.Subnet.Contains(n.firstPodIP()) {
		t.Errorf("first pod address %s is in the Service range %s or outside the subnet", n.firstPodIP(), svc)
	}
	var conf struct {
		Plugins []struct {
			Bridge string `json:"bridge"`
			IPAM   struct {
				Ranges  [][]map[string]string `json:"ranges"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	raw, err := n.cniConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &conf); err != nil {
		t.Fatal(err)
	}
	p := conf.Plugins[0]
	if p.Bridge != "twz7" || p.IPAM.Ranges[0][0]["rangeStart"] != "10.244.7.16" || p.IPAM.Ranges[0][0]["gateway"] != "10.244.7.1" || p.IPAM.DataDir != "/data/node/cni/ipam" {
		t.Errorf("CNI configuration %s", raw)
	}
}

// Everything containerd and the kubelet write stays under the node's folder.
func TestConfigsKeepStateInTheNodesFolder(t *testing.T) {
	n := testNode()
	cd := n.containerdConfig()
	for _, want := range []string{`root = "/data/node/containerd/root"`, `address = "/data/node/containerd/containerd.sock"`, "restrict_oom_score_adj = true", `sandbox_image = "` + PauseImage + `"`, `snapshotter = "overlayfs"`} {
		if !strings.Contains(cd, want) {
			t.Errorf("containerd configuration lacks %s", want)
		}
	}
	kl := n.kubeletConfig()
	for _, want := range []string{"failCgroupV1: false", "cgroupDriver: cgroupfs", "cgroupRoot: /tweezer-twz7", "containerRuntimeEndpoint: unix:///data/node/containerd/containerd.sock", "podLogsDir: /data/node/pod-logs", "imageGCHighThresholdPercent: 100", "port: 12345"} {
		if !strings.Contains(kl, want) {
			t.Errorf("kubelet configuration lacks %s", want)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/data/my\040node/x`); got != "/data/my node/x" {
		t.Errorf("got %q", got)
	}
	if got := unescapeMount("/plain"); got != "/plain" {
		t.Errorf("got %q", got)
	}
}

func TestOverlaps(t *testing.T) {
	_, a, _ := net.ParseCIDR("10.244.3.0/24")
	_, inside, _ := net.ParseCIDR("10.244.3.7/32")
	_, other, _ := net.ParseCIDR("192.0.2.0/24")
	if !overlaps(a, []*net.IPNet{other, inside}) || overlaps(a, []*net.IPNet{other}) {
		t.Error("overlap misjudged")
	}
}

func TestCheckHostNamesWhatIsMissing(t *testing.T) {
	err := checkHost(Options{BinDir: "/nonexistent", CNIBinDir: "/nonexistent-cni"})
	if err == nil {
		t.Fatal("no error for missing binaries")
	}
	for _, want := range []string{"/nonexistent/kubelet", "/nonexistent/kube-scheduler", "/nonexistent-cni/bridge", "hack/node-bins.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
