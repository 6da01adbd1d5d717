package sequence

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/cmplx"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seqJSON builds a sequence with a global channel "g" on device dev.
func seqJSON(dev any, register string, ops ...string) []byte {
	d, _ := json.Marshal(dev)
	return []byte(fmt.Sprintf(`{"version":"1","name":"t","device":%s,"register":%s,
		"channels":{"g":"rydberg_global"},"variables":{},"measurement":"ground-rydberg",
		"operations":[%s]}`, d, register, strings.Join(ops, ",")))
}

const oneAtom = `[{"name":"a","x":0,"y":0}]`

func pulseOp(d int, amp, det float64) string {
	return fmt.Sprintf(`{"op":"pulse","channel":"g","protocol":"min-delay","phase":0,"post_phase_shift":0,
		"amplitude":{"kind":"constant","duration":%d,"value":%g},
		"detuning":{"kind":"constant","duration":%d,"value":%g}}`, d, amp, d, det)
}

func mustCompile(t *testing.T, seq []byte) *Program {
	t.Helper()
	p, err := Compile(seq, Options{})
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

func wantError(t *testing.T, seq []byte, opts Options, path, msg string) {
	t.Helper()
	_, err := Compile(seq, opts)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error at %s, got %v", path, err)
	}
	if e.Path != path || !strings.Contains(e.Msg, msg) {
		t.Errorf("got %q at %q, want %q at %q", e.Msg, e.Path, msg, path)
	}
}

// The golden sequences exported by Pulser (device given as a full object)
// compile, and their durations match Pulser's schedule, including the
// phase-jump buffer and retargeting rules.
func TestGoldenSchedulesMatchPulser(t *testing.T) {
	want := map[string]int{ // Sequence.get_duration() in Pulser v1.1.0
		"golden_phase_jump.json":       764,
		"golden_local_channels.json":   1000,
		"golden_blackman_pi_half.json": 1052,
	}
	for name, dur := range want {
		b, err := os.ReadFile(filepath.Join("../emulator/testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var g struct{ Sequence json.RawMessage }
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		if p := mustCompile(t, g.Sequence); p.Duration != dur {
			t.Errorf("%s: duration %d, Pulser %d", name, p.Duration, dur)
		}
	}
}

func TestDurationsRoundUpToClock(t *testing.T) {
	p := mustCompile(t, seqJSON("AnalogDevice", oneAtom, pulseOp(250, 1, 0),
		`{"op":"delay","channel":"g","time":101}`))
	if p.Duration != 252+104 {
		t.Errorf("duration %d, want 356", p.Duration)
	}
	if p.Drive[0][251] != 1 || p.Drive[0][252] != 0 {
		t.Error("the stretched pulse must cover 252 ns")
	}
	wantError(t, seqJSON("AnalogDevice", oneAtom, pulseOp(10, 1, 0)), Options{}, "$.operations[0]", "minimum of 16")
	wantError(t, seqJSON("AnalogDevice", oneAtom, pulseOp(100, 1, 0), `{"op":"delay","channel":"g","time":8}`),
		Options{}, "$.operations[1].time", "minimum of 16")
	wantError(t, seqJSON("AnalogDevice", oneAtom, pulseOp(6100, 1, 0)), Options{}, "$.operations[0]", "maximum allowed by the device")
}

func TestConstantSentinelTakesOtherDuration(t *testing.T) {
	op := `{"op":"pulse","channel":"g","protocol":"min-delay","phase":0.5,"post_phase_shift":0,
		"amplitude":{"kind":"blackman","duration":300,"area":1},
		"detuning":{"kind":"constant","duration":0,"value":-2}}`
	p := mustCompile(t, seqJSON("MockDevice", oneAtom, op))
	if p.Duration != 300 || p.Det[0][299] != -2 {
		t.Errorf("duration %d, last detuning %g", p.Duration, p.Det[0][299])
	}
}

func TestRegisterValidation(t *testing.T) {
	two := func(x float64) string { return fmt.Sprintf(`[{"name":"a","x":0,"y":0},{"name":"b","x":%g,"y":0}]`, x) }
	mustCompile(t, seqJSON("AnalogDevice", two(5), pulseOp(100, 1, 0)))
	wantError(t, seqJSON("AnalogDevice", two(4.9), pulseOp(100, 1, 0)), Options{}, "$.register[1]", "at least 5")
	wantError(t, seqJSON("AnalogDevice", two(36), pulseOp(100, 1, 0)), Options{}, "$.register[1]", "at most 35")
	wantError(t, seqJSON("MockDevice", two(0), pulseOp(100, 1, 0)), Options{}, "$.register[1]", "apart")
	threeD := `[{"name":"a","x":0,"y":0,"z":0},{"name":"b","x":0,"y":0,"z":6}]`
	if p := mustCompile(t, seqJSON("MockDevice", threeD, pulseOp(100, 1, 0))); p.Positions[1][2] != 6 {
		t.Error("z coordinate lost")
	}
	wantError(t, seqJSON("AnalogDevice", threeD, pulseOp(100, 1, 0)), Options{}, "$.register", "3D")
	dev := map[string]any{"name": "Tiny", "dimensions": 2, "rydberg_level": 70, "max_atom_num": 1,
		"channels": []any{map[string]any{"id": "rydberg_global", "basis": "ground-rydberg", "addressing": "Global"}}}
	wantError(t, seqJSON(dev, two(10), pulseOp(100, 1, 0)), Options{}, "$.register", "Tiny supports")
	wantError(t, seqJSON("MockDevice", two(10), pulseOp(100, 1, 0)), Options{MaxAtoms: 1}, "$.register", "at most 1")
	p := mustCompile(t, seqJSON(dev, oneAtom, pulseOp(100, 1, 0)))
	if p.C6 != 5420158.53 {
		t.Errorf("C6 for level 70 = %g", p.C6)
	}
}

func TestLayout(t *testing.T) {
	seq := func(x float64) []byte {
		s := string(seqJSON("MockDevice", fmt.Sprintf(`[{"name":"a","x":%g,"y":0}]`, x), pulseOp(100, 1, 0)))
		return []byte(strings.Replace(s, `"version":"1",`, `"version":"1","layout":{"coordinates":[[0,0],[5,0]]},`, 1))
	}
	mustCompile(t, seq(5))
	wantError(t, seq(4), Options{}, "$.register[0]", "trap")
}

func TestPulseLimits(t *testing.T) {
	wantError(t, seqJSON("AnalogDevice", oneAtom, pulseOp(100, 13, 0)), Options{}, "$.operations[0].amplitude", "exceeds")
	wantError(t, seqJSON("AnalogDevice", oneAtom, pulseOp(100, 1, 126)), Options{}, "$.operations[0].detuning", "exceeds")
	wantError(t, seqJSON("MockDevice", oneAtom, pulseOp(100, -1, 0)), Options{}, "$.operations[0].amplitude", "negative")
	fresnel, err := LoadDevice("Fresnel")
	if err != nil {
		t.Fatal(err)
	}
	seq := seqJSON("AnalogDevice", oneAtom, pulseOp(100, 1, 70))
	mustCompile(t, seq)
	wantError(t, seq, Options{ValidateAs: fresnel}, "$.operations[0].detuning", "Fresnel")
}

func TestLocalChannelTargetsAndPhase(t *testing.T) {
	seq := []byte(`{"version":"1","name":"t","device":"MockDevice","variables":{},"measurement":null,
	"register":[{"name":"a","x":0,"y":0},{"name":"b","x":10,"y":0}],
	"channels":{"l":"rydberg_local"},
	"operations":[
	 {"op":"target","channel":"l","target":[1]},
	 {"op":"phase_shift","phi":1.5,"targets":[1],"basis":"ground-rydberg"},
	 {"op":"pulse","channel":"l","protocol":"min-delay","phase":0.25,"post_phase_shift":0,
	  "amplitude":{"kind":"constant","duration":50,"value":2},"detuning":{"kind":"constant","duration":50,"value":0}}]}`)
	p := mustCompile(t, seq)
	if p.Drive[0][10] != 0 {
		t.Error("atom a is not targeted")
	}
	// Phase = pulse phase + the qubit's phase reference.
	if d := p.Drive[1][10]; cmplx.Abs(d-cmplx.Rect(2, 1.75)) > 1e-12 {
		t.Errorf("drive on b = %v, want 2·e^{1.75i}", d)
	}
	noTarget := strings.Replace(string(seq), `{"op":"target","channel":"l","target":[1]},`, "", 1)
	wantError(t, []byte(noTarget), Options{}, "$.operations[1]", "no target")
}

func TestStructuralErrorsNamePaths(t *testing.T) {
	cases := map[string]struct{ seq, path, msg string }{
		"version":  {`{"version":"2"}`, "$.version", "version"},
		"device":   {`{"version":"1","device":"Nope"}`, "$.device", "unknown device"},
		"op":       {string(seqJSON("MockDevice", oneAtom, `{"op":"enable_eom_mode","channel":"g"}`)), "$.operations[0].op", "not supported"},
		"channel":  {string(seqJSON("MockDevice", oneAtom, strings.Replace(pulseOp(10, 1, 0), `"g"`, `"x"`, 1))), "$.operations[0].channel", "not declared"},
		"kind":     {string(seqJSON("MockDevice", oneAtom, strings.Replace(pulseOp(10, 1, 0), `"constant"`, `"square"`, 1))), "$.operations[0].amplitude.kind", "unknown waveform"},
		"duration": {string(seqJSON("MockDevice", oneAtom, pulseOp(-5, 1, 0))), "$.operations[0].amplitude.duration", "positive"},
		"json":     {`{"version":`, "$", "invalid JSON"},
		"register": {`{"version":"1","device":"MockDevice","register":{}}`, "$.register", "expected an array"},
		"empty":    {string(seqJSON("MockDevice", oneAtom)), "$.operations", "no instructions"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { wantError(t, []byte(c.seq), Options{}, c.path, c.msg) })
	}
}

// FuzzParse: no input makes Compile panic, and every failure is an *Error.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../emulator/testdata/golden_*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var g struct {
			Sequence  json.RawMessage
			Variables json.RawMessage
		}
		if err := json.Unmarshal(b, &g); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(g.Sequence), []byte(g.Variables))
	}
	f.Add(seqJSON("AnalogDevice", oneAtom, pulseOp(250, 1, 0)), []byte(nil))
	f.Add([]byte(`{"version":"1"}`), []byte(`{"t": 1}`))
	f.Fuzz(func(t *testing.T, seq, vars []byte) {
		p, err := Compile(seq, Options{Variables: vars, MaxAtoms: 12, MaxDuration: 20000})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if p.Duration <= 0 || len(p.Drive) != len(p.QubitIDs) {
			t.Fatalf("inconsistent program: duration %d, %d drives for %d atoms", p.Duration, len(p.Drive), len(p.QubitIDs))
		}
	})
}
