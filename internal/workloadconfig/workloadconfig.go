// Package workloadconfig reads the config of a pulser_basic Workload: a
// Pulser sequence, its variables, the number of runs and the emulated device.
// The facade checks a config with it before it creates a Workload, and the
// workload runner reads the same config into an emulation; neither needs the
// other's dependencies for it.
package workloadconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// DefaultDeviceType is the device the sequence is emulated on when the
// config names none.
const DefaultDeviceType = "EMU_FREE"

// MaxRuns bounds the number of shots of one workload; the emulator enforces
// the same bound on every job.
const MaxRuns = 10_000_000

// Config is the pulser_basic workload config of the REST API.
type Config struct {
	// SequenceBuilder is the serialized Pulser sequence (a JSON string; a
	// JSON object is accepted too).
	SequenceBuilder json.RawMessage `json:"sequence_builder"`
	// Variables are substituted into the sequence.
	Variables json.RawMessage `json:"variables"`
	// Runs is the number of shots.
	Runs int `json:"runs"`
	// DeviceType is the emulated device (optional, default EMU_FREE).
	DeviceType string `json:"device_type"`
	// Seed makes the sampling reproducible (optional, 0 = random).
	Seed int64 `json:"seed"`
	// Configuration is passed to the emulator as a batch configuration (optional).
	Configuration json.RawMessage `json:"configuration"`
}

// Spec is a checked config: the sequence as its abstract representation,
// absent optional fields as nil.
type Spec struct {
	Sequence      []byte
	Variables     json.RawMessage
	Runs          int
	Seed          int64
	DeviceType    string
	Configuration json.RawMessage
}

// Parse reads and checks a pulser_basic config. Its errors name the field.
func Parse(raw []byte) (Spec, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return Spec{}, errors.New("config: required")
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&c); err != nil {
		return Spec{}, fmt.Errorf("config: not a pulser_basic config object: %w", err)
	}
	seq := bytes.TrimSpace(c.SequenceBuilder)
	switch {
	case len(seq) == 0 || string(seq) == "null":
		return Spec{}, errors.New("config.sequence_builder: required")
	case seq[0] == '"':
		var s string
		if err := json.Unmarshal(seq, &s); err != nil {
			return Spec{}, fmt.Errorf("config.sequence_builder: %w", err)
		}
		seq = []byte(s)
	case seq[0] != '{':
		return Spec{}, errors.New("config.sequence_builder: must be a serialized Pulser sequence (a JSON string or object)")
	}
	if c.Runs < 1 || c.Runs > MaxRuns {
		return Spec{}, fmt.Errorf("config.runs: must be between 1 and %d, got %d", MaxRuns, c.Runs)
	}
	if v := bytes.TrimSpace(c.Variables); len(v) > 0 && string(v) != "null" && v[0] != '{' {
		return Spec{}, errors.New("config.variables: must be an object")
	}
	s := Spec{
		Sequence: seq, Runs: c.Runs, Seed: c.Seed, DeviceType: c.DeviceType,
		Variables: nullToNil(c.Variables), Configuration: nullToNil(c.Configuration),
	}
	if s.DeviceType == "" {
		s.DeviceType = DefaultDeviceType
	}
	return s, nil
}

func nullToNil(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return nil
	}
	return raw
}
