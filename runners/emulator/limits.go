package emulator

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// bytesPerAmplitude is the memory the engine needs per basis state: the
// state and two work vectors (complex128) and the interaction diagonal.
const bytesPerAmplitude = 3*16 + 8

// hardMaxAtoms is the largest register the engine handles at all.
const hardMaxAtoms = 30

// MaxAtomsEnv overrides the atom cap (an integer).
const MaxAtomsEnv = "TWEEZER_EMULATOR_MAX_ATOMS"

// MaxAtoms is the largest register this process can simulate: the cap set
// in TWEEZER_EMULATOR_MAX_ATOMS if any, and in any case no more than what
// fits in 3/4 of the memory available (cgroup limit or MemAvailable).
// Larger jobs fail with an InputError before anything is allocated.
func MaxAtoms() int {
	limit := hardMaxAtoms
	if v, err := strconv.Atoi(strings.TrimSpace(os.Getenv(MaxAtomsEnv))); err == nil && v > 0 {
		limit = min(limit, v)
	}
	if avail := availableMemory(); avail > 0 {
		n := 0
		for n < limit && float64(uint64(bytesPerAmplitude)<<(n+1)) <= 0.75*float64(avail) {
			n++
		}
		limit = n
	}
	return limit
}

// availableMemory returns the bytes this process may still use, or 0 if
// unknown.
func availableMemory() uint64 {
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
