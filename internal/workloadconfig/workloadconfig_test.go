package workloadconfig

import (
	"strings"
	"testing"
)

const sequence = `{"version": "1", "name": "seq"}`

func TestParseDefaults(t *testing.T) {
	s, err := Parse([]byte(`{"sequence_builder": "{\"version\": \"1\", \"name\": \"seq\"}", "runs": 3, "variables": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.DeviceType != DefaultDeviceType || s.Variables != nil || s.Configuration != nil || string(s.Sequence) != sequence || s.Runs != 3 {
		t.Fatalf("%+v", s)
	}
	s, err = Parse([]byte(`{"sequence_builder": {"a": 1}, "runs": 3, "device_type": "EMU_FRESNEL", "configuration": {"strict_validation": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.DeviceType != "EMU_FRESNEL" || string(s.Sequence) != `{"a": 1}` || string(s.Configuration) != `{"strict_validation": true}` {
		t.Fatalf("%+v", s)
	}
}

func TestParseNamesTheField(t *testing.T) {
	for in, want := range map[string]string{
		``:                                    "config: required",
		`[]`:                                  "config: not a pulser_basic config object",
		`{"runs": 3}`:                         "config.sequence_builder: required",
		`{"sequence_builder": 12, "runs": 3}`: "config.sequence_builder: must be a serialized Pulser sequence",
		`{"sequence_builder": {}, "runs": 0}`: "config.runs: must be between 1 and 10000000, got 0",
		`{"sequence_builder": {}, "runs": 10000001}`:            "config.runs: must be between 1 and 10000000",
		`{"sequence_builder": {}, "runs": 1, "variables": [1]}`: "config.variables: must be an object",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}
