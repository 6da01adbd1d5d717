package devices

import (
	"encoding/json"
	"math"
	"testing"
)

func TestCatalogDevicesMatchDesign(t *testing.T) {
	cat := Catalog()
	for _, n := range []string{AnalogDevice, DigitalAnalogDevice, MockDevice, Fresnel} {
		js, ok := cat[n]
		if !ok {
			t.Fatalf("catalog lacks %s", n)
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(js), &d); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if d["name"] != n {
			t.Errorf("%s: name field %v", n, d["name"])
		}
	}
	var fr struct {
		RydbergLevel int `json:"rydberg_level"`
		MaxAtomNum   int `json:"max_atom_num"`
		Channels     []struct {
			ID     string  `json:"id"`
			MaxAmp float64 `json:"max_amp"`
			MaxDet float64 `json:"max_abs_detuning"`
		} `json:"channels"`
		Noise struct {
			FalsePos float64 `json:"p_false_pos"`
			FalseNeg float64 `json:"p_false_neg"`
		} `json:"default_noise_model"`
	}
	if err := json.Unmarshal([]byte(cat[Fresnel]), &fr); err != nil {
		t.Fatal(err)
	}
	if fr.RydbergLevel != 60 || fr.MaxAtomNum != 100 {
		t.Errorf("Fresnel level/atoms = %d/%d", fr.RydbergLevel, fr.MaxAtomNum)
	}
	if len(fr.Channels) != 1 || math.Abs(fr.Channels[0].MaxAmp-2*math.Pi*2) > 1e-9 ||
		math.Abs(fr.Channels[0].MaxDet-2*math.Pi*10) > 1e-9 {
		t.Errorf("Fresnel channels = %+v", fr.Channels)
	}
	if fr.Noise.FalsePos != 0.025 || fr.Noise.FalseNeg != 0.1 {
		t.Errorf("Fresnel noise = %+v", fr.Noise)
	}
}

func TestSpecsByType(t *testing.T) {
	for _, typ := range Types() {
		js, ok := Specs(typ)
		if !ok || js == "" {
			t.Errorf("no specs for %s", typ)
		}
	}
	if n, _ := DeviceName("emu_fresnel"); n != Fresnel {
		t.Errorf("EMU_FRESNEL maps to %q", n)
	}
	if _, ok := Specs("NOPE"); ok {
		t.Error("unknown type has specs")
	}
	if _, ok := ByName("../devices"); ok {
		t.Error("path-like names must not resolve")
	}
}
