package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"
)

// ExampleSequence is a small Pulser sequence (abstract representation v1): four
// atoms on a 6 µm square driven by a global pulse whose duration is a variable.
const ExampleSequence = `{
  "version": "1",
  "name": "tweezer-example",
  "register": [
    {"name": "q0", "x": 0.0, "y": 0.0}, {"name": "q1", "x": 6.0, "y": 0.0},
    {"name": "q2", "x": 6.0, "y": 6.0}, {"name": "q3", "x": 0.0, "y": 6.0}
  ],
  "device": "AnalogDevice",
  "channels": {"ryd": "rydberg_global"},
  "variables": {"t": {"type": "int", "value": [400]}},
  "operations": [
    {"op": "pulse", "channel": "ryd", "protocol": "min-delay", "phase": 0.0, "post_phase_shift": 0.0,
     "amplitude": {"kind": "constant", "duration": {"expression": "index", "lhs": {"variable": "t"}, "rhs": 0}, "value": 6.283185307179586},
     "detuning": {"kind": "constant", "duration": {"expression": "index", "lhs": {"variable": "t"}, "rhs": 0}, "value": 0.0}}
  ],
  "measurement": "ground-rydberg"
}`

// ExampleRuns is the number of shots of each example job.
const ExampleRuns = 200

// Client speaks the REST facade's API as the Python SDK does, for the example
// and the end-to-end test.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// Job is the part of the API's job shape the example prints.
type Job struct {
	ID            string           `json:"id"`
	Status        string           `json:"status"`
	Runs          int              `json:"runs"`
	CreationOrder int              `json:"creation_order"`
	Variables     map[string]any   `json:"variables"`
	Result        map[string]int64 `json:"result"`
	Errors        []string         `json:"errors"`
}

// Batch is the part of the API's batch shape the example prints.
type Batch struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Jobs   []Job  `json:"jobs"`
}

// Do sends a JSON request and decodes the envelope's data into out.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, raw)
	}
	env := struct {
		Data json.RawMessage `json:"data"`
	}{}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: decoding the envelope: %w", method, path, err)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Data, out)
}

// SubmitExample creates the example batch: three jobs of ExampleSequence with
// pulse durations 100, 250 and 400 ns on EMU_FREE.
func (c *Client) SubmitExample(ctx context.Context, projectID string) (*Batch, error) {
	var jobs []map[string]any
	for _, t := range []int{100, 250, 400} {
		jobs = append(jobs, map[string]any{"runs": ExampleRuns, "variables": map[string]any{"t": []int{t}}})
	}
	b := &Batch{}
	err := c.Do(ctx, http.MethodPost, "/api/v1/batches", map[string]any{
		"project_id":       projectID,
		"sequence_builder": ExampleSequence,
		"device_type":      "EMU_FREE",
		"jobs":             jobs,
		"tags":             []string{"example"},
	}, b)
	return b, err
}

// WaitBatch polls the batch until it is terminal, calling onJob once for each
// job that reaches a terminal status, in creation order.
func (c *Client) WaitBatch(ctx context.Context, id string, onJob func(Job)) (*Batch, error) {
	reported := map[string]bool{}
	for {
		b := &Batch{}
		if err := c.Do(ctx, http.MethodGet, "/api/v1/batches/"+id, nil, b); err != nil {
			return nil, err
		}
		sort.Slice(b.Jobs, func(i, j int) bool { return b.Jobs[i].CreationOrder < b.Jobs[j].CreationOrder })
		for _, j := range b.Jobs {
			if terminalJob(j.Status) && !reported[j.ID] {
				reported[j.ID] = true
				if onJob != nil {
					onJob(j)
				}
			}
		}
		if terminalBatch(b.Status) {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return b, fmt.Errorf("batch %s still %s: %w", id, b.Status, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func terminalJob(s string) bool { return s == "DONE" || s == "ERROR" || s == "CANCELED" }

func terminalBatch(s string) bool {
	return s == "DONE" || s == "ERROR" || s == "CANCELED" || s == "TIMED_OUT"
}
