package emulator

import "testing"

// The register cap follows the pod's memory limit: 48 bytes per amplitude
// (3 complex128 vectors; the interaction diagonal is no longer stored), in
// 3/4 of the limit.
func TestMaxAtomsForAMemoryLimit(t *testing.T) {
	const mi, gi = 1 << 20, 1 << 30
	for _, c := range []struct {
		mem   uint64
		limit int
		want  int
	}{
		{512 * mi, hardMaxAtoms, 23}, // 48·2²³ B = 384 MiB ≤ 384 MiB < 768 MiB
		{2 * gi, hardMaxAtoms, 25},   // the default budget without a limit
		{4 * gi, hardMaxAtoms, 26},   // the default emulator devices' limit
		{32 * gi, hardMaxAtoms, 29},
		{1 << 50, hardMaxAtoms, hardMaxAtoms},
		{4 * gi, 12, 12}, // TWEEZER_EMULATOR_MAX_ATOMS lowers it
		{100, hardMaxAtoms, 0},
		{0, 7, 7}, // unknown memory: the cap alone
	} {
		if got := MaxAtomsFor(c.mem, c.limit, bytesPerAmplitude); got != c.want {
			t.Errorf("MaxAtomsFor(%d, %d) = %d, want %d", c.mem, c.limit, got, c.want)
		}
	}
}
