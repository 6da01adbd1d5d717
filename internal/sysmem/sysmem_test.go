package sysmem

import "testing"

func TestBudget(t *testing.T) {
	const gi = 1 << 30
	for _, c := range []struct {
		name        string
		v2, v1, env string
		avail, want uint64
	}{
		{"a pod's limit (cgroup v2)", "4294967296\n", "", "", 20 * gi, 4 * gi},
		{"a pod's limit (cgroup v1)", "", "1073741824\n", "", 20 * gi, 1 * gi},
		{"no limit (v2 max): the default, not the free memory", "max\n", "", "", 20 * gi, DefaultLimit},
		{"no limit (v1's huge value)", "", "9223372036854771712", "", 20 * gi, DefaultLimit},
		{"no cgroup at all", "", "", "", 20 * gi, DefaultLimit},
		{"no limit, the environment's budget", "max", "", "8Gi", 20 * gi, 8 * gi},
		{"the environment only lowers a pod's limit", "4294967296", "", "8Gi", 20 * gi, 4 * gi},
		{"the environment lowers a pod's limit", "4294967296", "", "1Gi", 20 * gi, 1 * gi},
		{"a bad environment value is ignored", "max", "", "lots", 20 * gi, DefaultLimit},
		{"never more than the machine has free", "4294967296", "", "", 1 * gi, 1 * gi},
		{"free memory unknown", "4294967296", "", "", 0, 4 * gi},
	} {
		if got := Budget(c.v2, c.v1, c.avail, c.env); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
