package emulator

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
)

var update = flag.Bool("update", false, "rewrite testdata/serialised_*.json")

// TestSerialisedResultsFixture runs the EmulationConfig Pulser 1.9 wrote
// (internal/emulationconfig/testdata/pulser_config.json, by
// hack/pulser-reference/check_results.py) and checks the serialised
// results validate against results-schema.json and equal the committed
// fixture, which check_results.py loads with Results.from_abstract_repr.
func TestSerialisedResultsFixture(t *testing.T) {
	cfg, err := os.ReadFile("../../internal/emulationconfig/testdata/pulser_config.json")
	if err != nil {
		t.Fatal(err)
	}
	seq := string(build("MockDevice", [][2]float64{{0, 0}, {6, 0}}, nil, pulseOp(constWF(600, 2*math.Pi), constWF(600, -1), 0)))
	res := runTask(t, seq, strings.TrimSpace(string(cfg)), 100)
	doc, err := res.PulserResults()
	if err != nil {
		t.Fatal(err)
	}
	if err := emulationconfig.ValidateResults(doc); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	const fixture = "testdata/serialised_pair.json"
	if *update {
		if err := os.WriteFile(fixture, append(doc, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := emulationconfig.ValidateResults(bytes.TrimSpace(want)); err != nil {
		t.Fatalf("the fixture does not validate: %v", err)
	}
	var a, b any
	_ = json.Unmarshal(doc, &a)
	_ = json.Unmarshal(want, &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("serialised results changed; if on purpose, run with -update and hack/pulser-reference/check_results.py\n got %s\nwant %s", ja, jb)
	}
}
