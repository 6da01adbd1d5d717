package sequence

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestWaveformsMatchPulser compares our samples with Pulser v1.1.0's for
// every waveform kind (reference written by
// hack/pulser-reference/make_goldens.py).
func TestWaveformsMatchPulser(t *testing.T) {
	data, err := os.ReadFile("../emulator/testdata/waveforms.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]struct {
		Waveform json.RawMessage `json:"waveform"`
		Samples  []float64       `json:"samples"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref) < 10 {
		t.Fatalf("only %d reference waveforms", len(ref))
	}
	ev := &evaluator{maxDuration: DefaultMaxDuration}
	for name, r := range ref {
		n, err := decodeJSON(r.Waveform, "$")
		if err != nil {
			t.Fatal(err)
		}
		wf, err := ev.parseWaveform(n)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := wf.samples()
		if len(got) != len(r.Samples) {
			t.Errorf("%s: %d samples, Pulser has %d", name, len(got), len(r.Samples))
			continue
		}
		worst := 0.0
		for i := range got {
			worst = math.Max(worst, math.Abs(got[i]-r.Samples[i]))
		}
		if worst > 1e-9 {
			t.Errorf("%s: max deviation from Pulser %.3g", name, worst)
		}
	}
}

func TestWaveformDurationAdjustment(t *testing.T) {
	bk, _ := blackmanWF{d: 250, area: 1}.withDuration(252)
	s := bk.samples()
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	if len(s) != 252 || math.Abs(sum/1000-1) > 1e-12 {
		t.Errorf("stretched Blackman: %d samples, area %g", len(s), sum/1000)
	}
	if _, err := (customWF{s: []float64{1, 2}}).withDuration(4); err == nil {
		t.Error("custom waveforms cannot be stretched")
	}
}

func TestPCHIPPreservesMonotonicity(t *testing.T) {
	w, err := newInterpolated(101, []float64{0, 1, 1, 5}, nil, "$")
	if err != nil {
		t.Fatal(err)
	}
	s := w.samples()
	for i := 1; i < len(s); i++ {
		if s[i] < s[i-1]-1e-12 {
			t.Fatalf("not monotone at %d: %g < %g", i, s[i], s[i-1])
		}
	}
	// On the flat segment between the 2nd and 3rd points PCHIP stays flat.
	for i := 34; i <= 66; i++ {
		if math.Abs(s[i]-1) > 1e-12 {
			t.Errorf("sample %d = %g, want 1", i, s[i])
		}
	}
	if _, err := newInterpolated(5, []float64{1, 2, 3}, []float64{0, 0.5, 0.52}, "$.x"); err == nil {
		t.Error("points collapsing onto the same ns must be refused")
	}
}
