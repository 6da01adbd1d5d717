package emulationconfig

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func config(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseReadsEveryOption(t *testing.T) {
	cfg, err := Parse(encode(t, config(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Observables) != 6 || cfg.DefaultNumShots != 1000 || cfg.NTrajectories != 1 || cfg.FullDefault {
		t.Fatalf("parsed %+v", cfg)
	}
	if got := cfg.DefaultTimes; len(got) != 3 || got[2] != 1 {
		t.Fatalf("default times %v", got)
	}
	bs := cfg.Observables[0]
	if bs.Kind != BitStrings || bs.NumShots != 200 || bs.Tag() != "bitstrings" || bs.UUID == "" || *bs.Aggregation != 3 {
		t.Fatalf("bitstrings %+v", bs)
	}
	if occ := cfg.Observables[1]; occ.Times != nil {
		t.Fatalf("occupation takes the default times, got %v", occ.Times)
	}
	ex := cfg.Observables[4]
	if ex.Tag() != "expectation_x" || ex.Operator.NQudits != 2 || len(ex.Operator.Terms) != 2 ||
		ex.Operator.Terms[1].Coeff != 0.5 || ex.Operator.Terms[1].Factors[0].Elements["rg"] != 1 {
		t.Fatalf("expectation %+v", ex.Operator)
	}
	if f := cfg.Observables[5]; f.State.Amplitudes["gg"] != 1 {
		t.Fatalf("fidelity %+v", f.State)
	}
}

func TestMissingOrLegacyConfigurationIsNotRead(t *testing.T) {
	for _, raw := range []string{"", "  ", `"legacy"`, `{"sampling_rate": 0.5}`, `[1]`} {
		cfg, err := Parse(raw)
		if cfg != nil || err != nil {
			t.Errorf("%q: got %v, %v; want nil, nil", raw, cfg, err)
		}
	}
}

func TestFullDefaultAndInitialStateAndInteractions(t *testing.T) {
	m := config(t)
	m["default_evaluation_times"] = "Full"
	m["initial_state"] = map[string]any{"eigenstates": []string{"r", "g"}, "amplitudes": map[string]any{"rg": map[string]any{"real": 0, "imag": 1}}}
	m["interaction_matrix"] = [][]float64{{0, 2}, {2, 0}}
	cfg, err := Parse(encode(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.FullDefault || cfg.InitialState.Amplitudes["rg"] != 1i || cfg.InteractionMatrix[0][1] != 2 {
		t.Fatalf("parsed %+v", cfg)
	}
}

// Every refusal names the field it is about.
func TestRefusalsNameTheField(t *testing.T) {
	cases := map[string]struct {
		edit  func(m map[string]any)
		field string
	}{
		"modulation":       {func(m map[string]any) { m["with_modulation"] = true }, "backend_configuration.with_modulation"},
		"schema type":      {func(m map[string]any) { m["n_trajectories"] = "many" }, "backend_configuration.n_trajectories"},
		"missing required": {func(m map[string]any) { delete(m, "initial_state") }, "backend_configuration"},
		"bad observable": {func(m map[string]any) {
			m["observables"].([]any)[0].(map[string]any)["num_shots"] = "x"
		}, "backend_configuration.observables[0].num_shots"},
		"num shots": {func(m map[string]any) {
			m["observables"].([]any)[0].(map[string]any)["num_shots"] = 0
		}, "backend_configuration.observables[0].num_shots"},
		"one state": {func(m map[string]any) {
			m["observables"].([]any)[2].(map[string]any)["one_state"] = "g"
		}, "backend_configuration.observables[2].one_state"},
		"times": {func(m map[string]any) { m["default_evaluation_times"] = []float64{0.5, 0.2} }, "backend_configuration.default_evaluation_times"},
		"leakage": {func(m map[string]any) {
			m["noise_model"].(map[string]any)["noise_types"] = []string{"leakage"}
		}, "backend_configuration.noise_model.noise_types[0]"},
		"unknown key": {func(m map[string]any) { m["sampling_rate"] = 0.5 }, "backend_configuration.sampling_rate"},
		"duplicate tag": {func(m map[string]any) {
			obs := m["observables"].([]any)
			dup := map[string]any{"observable": "energy", "evaluation_times": nil, "tag_suffix": nil}
			m["observables"] = append(obs, dup)
		}, "backend_configuration.observables[6].tag_suffix"},
		"no observable": {func(m map[string]any) { m["observables"] = []any{} }, "backend_configuration.observables"},
		"basis": {func(m map[string]any) {
			m["initial_state"] = map[string]any{"eigenstates": []string{"u", "d"}, "amplitudes": map[string]any{"ud": 1}}
		}, "backend_configuration.initial_state.eigenstates"},
		"matrix":   {func(m map[string]any) { m["interaction_matrix"] = [][]float64{{0, 1}, {2, 0}} }, "backend_configuration.interaction_matrix[0][1]"},
		"not json": {nil, "backend_configuration"},
	}
	for name, c := range cases {
		raw := `{"observables": [`
		if c.edit != nil {
			m := config(t)
			c.edit(m)
			raw = encode(t, m)
		}
		_, err := Parse(raw)
		fe, ok := err.(*FieldError)
		if !ok {
			t.Errorf("%s: got %v, want a FieldError", name, err)
			continue
		}
		if fe.Path() != c.field {
			t.Errorf("%s: field %q (%v), want %q", name, fe.Path(), err, c.field)
		}
		if !strings.HasPrefix(err.Error(), c.field+": ") {
			t.Errorf("%s: message %q does not start with the field", name, err)
		}
	}
}

// StateResult is Tweezer's extension of Pulser's schema: validated against
// schemas/tweezer-state-observable.json, capped by register size, and
// refused with noise trajectories that would make several states.
func TestStateResultObservable(t *testing.T) {
	withState := func(edit func(st, m map[string]any)) string {
		m := config(t)
		st := map[string]any{"observable": "state", "evaluation_times": []float64{0.5, 1}, "tag_suffix": nil}
		if edit != nil {
			edit(st, m)
		}
		m["observables"] = append(m["observables"].([]any), st)
		return encode(t, m)
	}
	cfg, err := Parse(withState(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := cfg.Observables[6]
	if st.Kind != StateResult || st.Tag() != "state" || len(st.Times) != 2 {
		t.Fatalf("state observable %+v", st)
	}
	if err := cfg.CheckAtoms(11); err != nil {
		t.Errorf("2 states of 11 atoms fit the cap: %v", err)
	}
	refused(t, cfg.CheckAtoms(12), "backend_configuration.observables[6]", "8192 in all is more than the cap of 4096")
	if err := cfg.CheckAtoms(0); err != nil {
		t.Errorf("an unreadable register is left to the engine: %v", err)
	}
	if RegisterSize(`{"register": [{"name": "q0", "x": 0, "y": 0}, {"name": "q1", "x": 5, "y": 0}]}`) != 2 || RegisterSize("nope") != 0 {
		t.Error("RegisterSize")
	}

	_, err = Parse(withState(func(st, _ map[string]any) { st["one_state"] = "r" }))
	refused(t, err, "backend_configuration.observables[6]", "Tweezer's StateResult schema")
	_, err = Parse(withState(func(st, _ map[string]any) { st["evaluation_times"] = []float64{2} }))
	refused(t, err, "backend_configuration.observables[6].evaluation_times", "")
	// Errors elsewhere keep their index.
	_, err = Parse(withState(func(_, m map[string]any) {
		m["observables"].([]any)[0].(map[string]any)["num_shots"] = "x"
	}))
	refused(t, err, "backend_configuration.observables[0].num_shots", "Pulser 1.9's schema")

	noisy := func(types []string, field string, v any, traj int) string {
		return withState(func(_, m map[string]any) {
			nm := m["noise_model"].(map[string]any)
			nm["noise_types"] = types
			nm[field] = v
			m["n_trajectories"] = traj
		})
	}
	_, err = Parse(noisy([]string{"dephasing"}, "dephasing_rate", 0.1, 20))
	refused(t, err, "backend_configuration.observables[6]", "20 noise trajectories")
	for name, raw := range map[string]string{
		"one trajectory":    noisy([]string{"dephasing"}, "dephasing_rate", 0.1, 1),
		"measurement noise": noisy([]string{"SPAM"}, "p_false_pos", 0.1, 20),
	} {
		if _, err := Parse(raw); err != nil {
			t.Errorf("%s leaves one pure state: %v", name, err)
		}
	}
}

func refused(t *testing.T, err error, field, msg string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want a FieldError on %s, got %v", field, err)
	}
	if fe.Path() != field || !strings.Contains(fe.Msg, msg) {
		t.Errorf("got %s: %s; want %s: …%s…", fe.Path(), fe.Msg, field, msg)
	}
}
