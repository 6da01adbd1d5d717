// Package sysmem tells how much memory this process may use, so the
// emulation engines can refuse a job before allocating it.
package sysmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// DefaultLimit is the memory a process assumes it may use when its cgroup
// sets no limit (a pod without one, a local process): the machine's free
// memory is shared with everything else on it, so it is no budget.
const DefaultLimit uint64 = 2 << 30

// LimitEnv sets the budget of a process without a cgroup limit (a quantity,
// e.g. "8Gi"); with a cgroup limit it may only lower it.
const LimitEnv = "TWEEZER_MEMORY_LIMIT"

// Available returns the bytes this process may use: its cgroup's memory
// limit (a pod's memory limit), else TWEEZER_MEMORY_LIMIT, else
// DefaultLimit; in any case no more than the machine's MemAvailable.
func Available() uint64 {
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return string(b)
	}
	return Budget(read("/sys/fs/cgroup/memory.max"), read("/sys/fs/cgroup/memory/memory.limit_in_bytes"), memAvailable(), os.Getenv(LimitEnv))
}

// Budget is Available for the given cgroup v2 memory.max and v1
// memory.limit_in_bytes contents (either may be empty), MemAvailable (0 when
// unknown) and LimitEnv value.
func Budget(cgroupV2, cgroupV1 string, memAvailable uint64, env string) uint64 {
	limit, ok := cgroupLimit(cgroupV2, cgroupV1)
	if !ok {
		limit = DefaultLimit
	}
	if q, err := resource.ParseQuantity(strings.TrimSpace(env)); err == nil && q.Sign() > 0 {
		if v := uint64(q.Value()); !ok || v < limit {
			limit = v
		}
	}
	if memAvailable > 0 && memAvailable < limit {
		limit = memAvailable
	}
	return limit
}

// cgroupLimit reads a cgroup memory limit; "max" (v2) and the huge value
// of v1 mean none.
func cgroupLimit(v2, v1 string) (uint64, bool) {
	if v, err := strconv.ParseUint(strings.TrimSpace(v2), 10, 64); err == nil && v > 0 {
		return v, true
	}
	if v, err := strconv.ParseUint(strings.TrimSpace(v1), 10, 64); err == nil && v > 0 && v < 1<<62 {
		return v, true
	}
	return 0, false
}

// memAvailable is /proc/meminfo's MemAvailable in bytes, 0 when unknown.
func memAvailable() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			if kb, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
