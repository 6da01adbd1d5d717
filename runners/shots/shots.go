// Package shots holds what the state-vector engine (runners/emulator) and
// the MPS engine (runners/mps) share about noisy shots, so that both draw
// Pulser's SPAM errors and combine trajectories the same way: which atoms a
// trajectory loses at state preparation, how a measured bit is misread,
// how a job's shots are shared among trajectories, and how the samples of
// several trajectory groups are merged into one bag of shots.
package shots

import (
	"math/rand/v2"
	"sort"
)

// LostAtoms draws, for each of n atoms in turn, whether state preparation
// failed (probability p): such an atom is absent from the register for the
// whole trajectory and reads as ground. It draws nothing when p is 0.
func LostAtoms(n int, p float64, rng *rand.Rand) []bool {
	lost := make([]bool, n)
	if p > 0 {
		for a := range lost {
			lost[a] = rng.Float64() < p
		}
	}
	return lost
}

// Readout returns the value a measured bit reads as: a ground atom reads
// as excited with probability pFalsePos, an excited one as ground with
// pFalseNeg. It draws a number only when the probability that applies is
// positive.
func Readout(excited bool, pFalsePos, pFalseNeg float64, rng *rand.Rand) bool {
	if !excited {
		return pFalsePos > 0 && rng.Float64() < pFalsePos
	}
	return !(pFalseNeg > 0 && rng.Float64() < pFalseNeg)
}

// Share is the number of a job's runs shots that trajectory i of nTraj
// draws: runs spread evenly, the first runs%nTraj trajectories one more.
func Share(runs, nTraj, i int) int {
	s := runs / nTraj
	if i < runs%nTraj {
		s++
	}
	return s
}

// Merge draws shots in all from the groups' samples, each group
// contributing in proportion to its weight (largest remainder first), the
// shots of a group taken at random from its bag (sorted first, so the
// outcome depends on rng only). total is the sum of the weights.
func Merge(perGroup []map[string]int64, weights map[int]int, total, shots int, rng *rand.Rand) map[string]int64 {
	if len(perGroup) == 1 {
		return perGroup[0]
	}
	share := make([]int, len(perGroup))
	type rem struct {
		g int
		r float64
	}
	var rems []rem
	given := 0
	for g := range perGroup {
		x := float64(shots) * float64(weights[g]) / float64(total)
		share[g] = int(x)
		given += share[g]
		rems = append(rems, rem{g, x - float64(share[g])})
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for i := 0; given < shots; i++ {
		share[rems[i].g]++
		given++
	}
	out := map[string]int64{}
	for g, c := range perGroup {
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var bag []string
		for _, k := range keys {
			for i := int64(0); i < c[k]; i++ {
				bag = append(bag, k)
			}
		}
		for i := 0; i < share[g] && i < len(bag); i++ {
			j := i + rng.IntN(len(bag)-i)
			bag[i], bag[j] = bag[j], bag[i]
			out[bag[i]]++
		}
	}
	return out
}
