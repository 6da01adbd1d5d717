package emulator

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tweezer-dev/tweezer/internal/sysmem"
)

// bytesPerAmplitude is the memory the engine needs per basis state: the
// state and two work vectors (complex128); bytesPerAmplitudeLow the same in
// precision "low" (complex64 work vectors). The interaction diagonal is not
// stored (interTables: a fraction of a percent of the state).
const (
	bytesPerAmplitude    = 3 * 16
	bytesPerAmplitudeLow = 16 + 2*8
)

// amplitudeBytes is bytesPerAmplitude for the precision in use.
func amplitudeBytes(single bool) int {
	if single {
		return bytesPerAmplitudeLow
	}
	return bytesPerAmplitude
}

// hardMaxAtoms is the largest register the engine handles at all.
const hardMaxAtoms = 30

// MaxAtomsEnv overrides the atom cap (an integer).
const MaxAtomsEnv = "TWEEZER_EMULATOR_MAX_ATOMS"

// MaxAtoms is the largest register this process can simulate: the cap set
// in TWEEZER_EMULATOR_MAX_ATOMS if any, and in any case no more than what
// fits in 3/4 of the process's memory budget (sysmem.Available: the pod's
// memory limit, or a safe default without one; never the node's free
// memory). Larger jobs fail with an InputError before anything is allocated.
func MaxAtoms() int {
	return maxAtoms(bytesPerAmplitude)
}

// maxAtoms is MaxAtoms for an engine needing perAmp bytes per amplitude.
func maxAtoms(perAmp int) int {
	limit := hardMaxAtoms
	if v, err := strconv.Atoi(strings.TrimSpace(os.Getenv(MaxAtomsEnv))); err == nil && v > 0 {
		limit = min(limit, v)
	}
	return MaxAtomsFor(sysmem.Available(), limit, perAmp)
}

// maxAtomsReason says, for an error message, what caps maxAtoms(perAmp):
// the memory budget, or TWEEZER_EMULATOR_MAX_ATOMS or the engine's limit.
func maxAtomsReason(perAmp int) string {
	mem := sysmem.Available()
	n := maxAtoms(perAmp)
	if n == hardMaxAtoms || MaxAtomsFor(mem, hardMaxAtoms, perAmp) > n {
		return fmt.Sprintf("the cap of %s or of the engine", MaxAtomsEnv)
	}
	return fmt.Sprintf("a state of %d atoms needs %s, more than 3/4 of this runner's memory budget of %s (its memory limit; without one, %s or %s)",
		n+1, mib(uint64(perAmp)<<(n+1)), mib(mem), sysmem.LimitEnv, mib(sysmem.DefaultLimit))
}

// spareBytes is what is left of 3/4 of the memory budget once the state
// of n atoms at perAmp bytes per amplitude is allocated.
func spareBytes(n, perAmp int) uint64 {
	budget, need := 0.75*float64(sysmem.Available()), float64(uint64(perAmp)<<n)
	return uint64(max(0, budget-need))
}

// mib formats bytes in MiB.
func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// MaxAtomsFor is the largest register, at most limit atoms, whose state at
// perAmp bytes per amplitude fits in 3/4 of mem bytes; mem 0 (unknown)
// leaves limit.
func MaxAtomsFor(mem uint64, limit, perAmp int) int {
	if mem == 0 {
		return limit
	}
	n := 0
	for n < limit && float64(uint64(perAmp)<<(n+1)) <= 0.75*float64(mem) {
		n++
	}
	return n
}
