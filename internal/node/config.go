package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// containerdConfig is containerd's configuration (version 2, containerd
// 1.6): every path under the node's folder, its own socket, the overlayfs
// snapshotter, our pause image, and the CRI's restrict_oom_score_adj (root in
// a VM or container may lack CAP_SYS_RESOURCE to lower OOM scores).
func (n *Node) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[7]q
    conf_dir = %[8]q
    max_conf_num = 1
`, n.path("containerd", "root"), n.path("containerd", "state"), n.socket(), n.socket()+".ttrpc",
		n.path("containerd", "opt"), PauseImage, n.opts.CNIBinDir, n.path("cni", "conf"))
}

// cniConfig is the pod network: the bridge plugin on the node's own bridge,
// which is the pods' gateway, with host-local addresses from the node's
// subnet above the Service range (leases kept in the node's folder). No
// masquerading: pods talk to this machine only.
func (n *Node) cniConfig() ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       n.Bridge,
		"plugins": []any{map[string]any{
			"type":        "bridge",
			"bridge":      n.Bridge,
			"isGateway":   true,
			"ipMasq":      false,
			"hairpinMode": true,
			"ipam": map[string]any{
				"type": "host-local",
				"ranges": [][]map[string]string{{{
					"subnet": n.Subnet.String(), "gateway": n.Gateway.String(),
					"rangeStart": n.firstPodIP().String(),
				}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": n.path("cni", "ipam"),
			},
		}},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// kubeletConfig is the KubeletConfiguration: cgroupfs driver under the
// node's own cgroup root (so parallel nodes and teardown do not mix), cgroup
// v1 allowed, no anonymous or webhook authentication (nothing calls the
// kubelet but the tests' own clients), pod logs and volume plugins in the
// node's folder, and no image garbage collection or disk eviction (the
// kubelet must never delete the images it cannot pull).
func (n *Node) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %[1]s
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://%[2]s
address: %[3]s
port: %[4]d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
failSwapOn: false
makeIPTablesUtilChains: false
podLogsDir: %[5]s
volumePluginDir: %[6]s
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "0%%"
  nodefs.available: "0%%"
  nodefs.inodesFree: "0%%"
  imagefs.available: "0%%"
fileCheckFrequency: 1s
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
maxPods: 50
`, n.CgroupRoot, n.socket(), n.Gateway, n.kubeletPort, n.path("pod-logs"), n.path("kubelet", "volume-plugins"))
}

// writeConfigs writes containerd's, the CNI's and the kubelet's configuration.
func (n *Node) writeConfigs() error {
	cni, err := n.cniConfig()
	if err != nil {
		return err
	}
	for _, d := range []string{n.path("containerd"), n.path("cni", "conf"), n.path("cni", "ipam"), n.path("kubelet"), n.path("pod-logs"), n.path("logs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	files := map[string][]byte{
		n.path("containerd", "config.toml"):          []byte(n.containerdConfig()),
		n.path("cni", "conf", "10-tweezer.conflist"): cni,
		n.path("kubelet", "config.yaml"):             []byte(n.kubeletConfig()),
	}
	for p, data := range files {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) path(elem ...string) string {
	return filepath.Join(append([]string{n.opts.Dir}, elem...)...)
}

func (n *Node) socket() string { return n.path("containerd", "containerd.sock") }
