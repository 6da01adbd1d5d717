package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Stop tears the node down and reports what it could not remove: it stops
// the kubelet (so that it restarts nothing), removes every pod sandbox
// through the CRI (stopping containers, deleting network namespaces and
// IP leases), stops kube-scheduler and containerd, kills shims left behind,
// unmounts what remains under the node's folder, and removes the node's
// cgroups and bridge. The folder itself stays (logs, images); Leftovers
// tells what of the node is still on the machine. Stopping twice is fine.
func (n *Node) Stop() error {
	var errs []error
	n.kubelet.Stop(20 * time.Second)
	n.kubelet = nil
	if n.containerd != nil {
		if err := n.removeSandboxes(); err != nil {
			errs = append(errs, err)
		}
	}
	n.scheduler.Stop(10 * time.Second)
	n.scheduler = nil
	n.containerd.Stop(20 * time.Second)
	n.containerd = nil
	if n.opts.Dir != "" {
		if err := n.killShims(); err != nil {
			errs = append(errs, err)
		}
		if err := unmountUnder(n.opts.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if n.CgroupRoot != "" {
		// A process still in the node's cgroups (a pause process whose shim
		// died) is the node's: it goes with them.
		for _, pid := range cgroupProcs(n.CgroupRoot) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := removeCgroups(n.CgroupRoot); err != nil {
			errs = append(errs, err)
		}
	}
	if n.Bridge != "" {
		if out, err := exec.Command("ip", "link", "del", n.Bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			errs = append(errs, fmt.Errorf("deleting bridge %s: %v: %s", n.Bridge, err, out))
		}
	}
	return errors.Join(errs...)
}

// removeSandboxes stops and removes every pod sandbox of the node's
// containerd, as the kubelet would when their pods are deleted.
func (n *Node) removeSandboxes() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+n.socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("listing pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range list.Items {
		// A sandbox caught being created may have lost its shim ("ttrpc:
		// closed"): containerd cleans the dead shim up, and a later try
		// stops the sandbox and removes its network namespace.
		var err error
		for try := 0; try < 10; try++ {
			if _, err = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err == nil {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stopping sandbox of pod %s/%s: %w", sb.Metadata.Namespace, sb.Metadata.Name, err))
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("removing sandbox of pod %s/%s: %w", sb.Metadata.Namespace, sb.Metadata.Name, err))
		}
	}
	return errors.Join(errs...)
}

// shims are the containerd-shim processes serving the node's containerd:
// their command line names its socket.
func (n *Node) shims() []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for _, a := range args {
			if a == n.socket() {
				var pid int
				if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid); err == nil {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

func (n *Node) killShims() error {
	for _, pid := range n.shims() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(n.shims()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := n.shims(); len(pids) > 0 {
		return fmt.Errorf("containerd shims %v survived SIGKILL", pids)
	}
	return nil
}

// mountsUnder lists the mount points at or under dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts, s.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unmountUnder(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// cgroupDirs are the node's cgroup root in every cgroup hierarchy mounted
// under /sys/fs/cgroup (one on cgroup v2, one per controller on v1).
func cgroupDirs(root string) []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{filepath.Join("/sys/fs/cgroup", root)}
	}
	var dirs []string
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		h := filepath.Join("/sys/fs/cgroup", e.Name())
		if _, err := os.Stat(filepath.Join(h, "cgroup.procs")); err == nil && e.Name() != "unified" {
			dirs = append(dirs, filepath.Join(h, root))
		}
	}
	return dirs
}

// makeCgroupRoot creates the node's cgroup root, which the kubelet wants to
// exist; a cpuset cgroup gets its parent's CPUs and memory nodes.
func (n *Node) makeCgroupRoot() error {
	for _, d := range cgroupDirs(n.CgroupRoot) {
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("creating cgroup %s: %w", d, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(filepath.Dir(d), f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), v, 0o644); err != nil {
					return fmt.Errorf("setting %s of cgroup %s: %w", f, d, err)
				}
			}
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		ctrls, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
		if err != nil {
			return err
		}
		var enable []string
		for _, c := range strings.Fields(string(ctrls)) {
			enable = append(enable, "+"+c)
		}
		if err := os.WriteFile(filepath.Join("/sys/fs/cgroup", n.CgroupRoot, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644); err != nil {
			return fmt.Errorf("enabling controllers under cgroup %s: %w", n.CgroupRoot, err)
		}
	}
	return nil
}

// allCgroupDirs are cgroupDirs and, on a hybrid v1 host, the node's root in
// the unified (v2) hierarchy, where runc creates the containers' cgroups too.
func allCgroupDirs(root string) []string {
	dirs := cgroupDirs(root)
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err == nil {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup/unified", root))
	}
	return dirs
}

// cgroupProcs are the processes in the node's cgroup trees.
func cgroupProcs(root string) []int {
	if root == "" {
		return nil
	}
	seen := map[int]bool{}
	var pids []int
	for _, d := range allCgroupDirs(root) {
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// removeCgroups removes the node's cgroup trees, deepest first.
func removeCgroups(root string) error {
	var errs []error
	for _, d := range allCgroupDirs(root) {
		var dirs []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, dir := range dirs {
			var err error
			for try := 0; try < 20; try++ { // a cgroup is busy for a moment after its last process exits
				if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dir, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists what of the node is still on this machine: mounts under
// its folder, its cgroups and any process in them, its bridge, processes of
// its own (containerd, shims, kubelet, kube-scheduler) and its pods'
// network namespaces. Empty after Stop.
func (n *Node) Leftovers() []string {
	var left []string
	if mounts, err := mountsUnder(n.opts.Dir); err != nil || len(mounts) > 0 {
		left = append(left, fmt.Sprintf("mounts %v (%v)", mounts, err))
	}
	for _, d := range allCgroupDirs(n.CgroupRoot) {
		if _, err := os.Stat(d); err == nil {
			left = append(left, "cgroup "+d)
		}
	}
	for _, pid := range cgroupProcs(n.CgroupRoot) {
		left = append(left, fmt.Sprintf("process %d in the node's cgroups", pid))
	}
	if _, err := os.Stat("/sys/class/net/" + n.Bridge); err == nil {
		left = append(left, "bridge "+n.Bridge)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), n.opts.Dir+"/") {
			left = append(left, "process "+filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return left
}
