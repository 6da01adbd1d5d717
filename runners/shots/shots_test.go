package shots

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestLostAtomsAndReadoutRates(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, trials = 10, 20_000
	lost := 0
	for i := 0; i < trials; i++ {
		for _, l := range LostAtoms(n, 0.1, rng) {
			if l {
				lost++
			}
		}
	}
	if f, sd := float64(lost)/(n*trials), math.Sqrt(0.09/(n*trials)); math.Abs(f-0.1) > 5*sd {
		t.Errorf("lost fraction %.4f, want 0.1", f)
	}
	fp, fn := 0, 0
	for i := 0; i < trials; i++ {
		if Readout(false, 0.05, 0.2, rng) {
			fp++
		}
		if !Readout(true, 0.05, 0.2, rng) {
			fn++
		}
	}
	if f := float64(fp) / trials; math.Abs(f-0.05) > 5*math.Sqrt(0.05*0.95/trials) {
		t.Errorf("false positives %.4f, want 0.05", f)
	}
	if f := float64(fn) / trials; math.Abs(f-0.2) > 5*math.Sqrt(0.2*0.8/trials) {
		t.Errorf("false negatives %.4f, want 0.2", f)
	}
}

// With zero probabilities nothing is drawn, so a noiseless model leaves
// the random stream (and every seeded result after it) as it was.
func TestZeroProbabilitiesDrawNothing(t *testing.T) {
	a, b := rand.New(rand.NewPCG(3, 4)), rand.New(rand.NewPCG(3, 4))
	for _, l := range LostAtoms(5, 0, a) {
		if l {
			t.Fatal("an atom lost with probability 0")
		}
	}
	if Readout(false, 0, 0.3, a) || !Readout(true, 0.3, 0, a) {
		t.Fatal("a bit misread with probability 0")
	}
	if a.Uint64() != b.Uint64() {
		t.Error("zero probabilities consumed random numbers")
	}
}

func TestShareAndMerge(t *testing.T) {
	total := 0
	for i := 0; i < 7; i++ {
		s := Share(100, 7, i)
		if s != 14 && s != 15 {
			t.Errorf("share %d of 100 over 7 = %d", i, s)
		}
		total += s
	}
	if total != 100 {
		t.Errorf("shares sum to %d, want 100", total)
	}
	groups := []map[string]int64{{"00": 1000}, {"11": 1000}, {"01": 1000}}
	out := Merge(groups, map[int]int{0: 6, 1: 3, 2: 1}, 10, 1000, rand.New(rand.NewPCG(5, 6)))
	if out["00"] != 600 || out["11"] != 300 || out["01"] != 100 {
		t.Errorf("merged %v, want 600/300/100 by weight", out)
	}
	single := map[string]int64{"1": 3}
	if got := Merge([]map[string]int64{single}, map[int]int{0: 1}, 1, 3, nil); got["1"] != 3 {
		t.Errorf("one group: %v", got)
	}
}
