package engine

import (
	"encoding/json"
)

// PulserResults is the result's observables as a Pulser Results abstract
// repr (Results.to_abstract_repr of Pulser 1.9, results-schema.json): atom
// order, total duration, and per observable uuid its tag, values, relative
// times and aggregation method. It is nil when there are no observables.
func (r *Result) PulserResults() ([]byte, error) {
	if len(r.Observables) == 0 {
		return nil, nil
	}
	doc := struct {
		AtomOrder     []string                     `json:"atom_order"`
		TotalDuration int                          `json:"total_duration"`
		Tagmap        map[string]string            `json:"tagmap"`
		Results       map[string][]json.RawMessage `json:"results"`
		Times         map[string][]float64         `json:"times"`
		Aggregation   map[string]int               `json:"aggregation_methods"`
	}{
		AtomOrder: r.AtomOrder, TotalDuration: r.TotalDuration, Tagmap: map[string]string{},
		Results: map[string][]json.RawMessage{}, Times: map[string][]float64{}, Aggregation: map[string]int{},
	}
	if doc.AtomOrder == nil {
		doc.AtomOrder = []string{}
	}
	for _, o := range r.Observables {
		doc.Tagmap[o.Tag] = o.UUID
		doc.Results[o.UUID] = o.Values
		doc.Times[o.UUID] = o.Times
		doc.Aggregation[o.UUID] = o.Aggregation
	}
	return json.Marshal(doc)
}

// FullResult is a job's full_result document as stored (the job's result
// ConfigMap) and served: the counter, the raw shots and, with observables,
// serialised_results, the PulserResults abstract repr as a string (what
// pasqal-cloud hands to Results.from_abstract_repr).
func (r *Result) FullResult() ([]byte, error) {
	doc := struct {
		Counter    map[string]int64 `json:"counter"`
		Raw        []string         `json:"raw"`
		Serialised *string          `json:"serialised_results,omitempty"`
	}{Counter: r.Counter, Raw: r.Raw}
	pr, err := r.PulserResults()
	if err != nil {
		return nil, err
	}
	if pr != nil {
		s := string(pr)
		doc.Serialised = &s
	}
	return json.Marshal(doc)
}
