package emulationconfig

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The compiled schemas. Pulser's config schema is draft 2020-12 (it uses
// prefixItems), the noise and results schemas draft-07: a validator with
// both drafts is needed, which is why santhosh-tekuri/jsonschema/v6 is used.
// stateSchema is Tweezer's own schema of a StateResult observable
// (schemas/tweezer-state-observable.json), which Pulser's lacks.
var configSchema, resultsSchema, stateSchema = compileSchemas()

const schemaBase = "https://tweezer.dev/pulser-1.9/"

func compileSchemas() (*jsonschema.Schema, *jsonschema.Schema, *jsonschema.Schema) {
	c := jsonschema.NewCompiler()
	for _, name := range []string{"config-schema.json", "noise-schema.json", "results-schema.json", "tweezer-state-observable.json"} {
		data, err := schemaFS.ReadFile("schemas/" + name)
		if err != nil {
			panic(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			panic(err)
		}
		if err := c.AddResource(schemaBase+name, doc); err != nil {
			panic(err)
		}
	}
	cfg, err := c.Compile(schemaBase + "config-schema.json")
	if err != nil {
		panic(err)
	}
	res, err := c.Compile(schemaBase + "results-schema.json")
	if err != nil {
		panic(err)
	}
	st, err := c.Compile(schemaBase + "tweezer-state-observable.json")
	if err != nil {
		panic(err)
	}
	return cfg, res, st
}

// ValidateResults checks a Pulser Results abstract repr against results-schema.json.
func ValidateResults(doc []byte) error {
	if err := validate(resultsSchema, doc); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return errors.New("results " + strings.TrimPrefix(fe.Error(), "backend_configuration"))
		}
		return err
	}
	return nil
}

// validate checks doc against sch; a failure names the deepest field.
func validate(sch *jsonschema.Schema, doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fieldErr("", "is not valid JSON: %v", err)
	}
	return validateValue(sch, inst, "", "Pulser 1.9's schema")
}

// validateValue checks a decoded instance against sch; a failure names
// the deepest field, under prefix.
func validateValue(sch *jsonschema.Schema, inst any, prefix, what string) error {
	err := sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fieldErr("", "%v", err)
	}
	leaf := deepest(ve)
	msg := strings.TrimSpace(leaf.Error())
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "at ") {
		msg = msg[i+2:]
	}
	field := pointer(leaf.InstanceLocation)
	if prefix != "" && field != "" && !strings.HasPrefix(field, "[") {
		field = "." + field
	}
	return &FieldError{Field: prefix + field, Msg: "does not match " + what + ": " + msg}
}

// deepest follows the causes to the error at the deepest instance location.
func deepest(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	best := e
	for _, c := range e.Causes {
		if d := deepest(c); len(d.InstanceLocation) > len(best.InstanceLocation) {
			best = d
		}
	}
	return best
}

// pointer spells an instance location as a.b[0].c.
func pointer(loc []string) string {
	var sb strings.Builder
	for _, p := range loc {
		if _, err := strconv.Atoi(p); err == nil {
			sb.WriteString("[" + p + "]")
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(p)
	}
	return sb.String()
}
