// Package sysmem reads how much memory this process may still use, so the
// emulation engines can refuse a job before allocating it.
package sysmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Available returns the bytes this process may still use (the smaller of
// MemAvailable and the cgroup memory limit), or 0 if unknown.
func Available() uint64 {
	var avail uint64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemAvailable:" {
				if kb, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
					avail = kb * 1024
				}
			}
		}
		f.Close()
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (avail == 0 || v < avail) {
			avail = v
		}
	}
	return avail
}
