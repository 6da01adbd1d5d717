package envelope

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/danielgtaylor/huma/v2"
)

func TestParseLocation(t *testing.T) {
	cases := map[string]string{
		"body.jobs[0].runs": "[body jobs 0 runs]",
		"query.limit":       "[query limit]",
		"body[3]":           "[body 3]",
		"":                  "[]",
	}
	for in, want := range cases {
		if got := fmt.Sprint(ParseLocation(in)); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

func TestFromHumaValidation(t *testing.T) {
	err := FromHuma(http.StatusUnprocessableEntity, "validation failed",
		&huma.ErrorDetail{Message: "expected number >= 1", Location: "body.jobs[1].runs", Value: 0},
		&huma.ErrorDetail{Message: "expected required property sequence_builder to be present", Location: "body"})
	e := err.(*Error)
	raw, _ := json.Marshal(e)
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	if doc["status"] != "fail" || doc["code"] != "422" || e.GetStatus() != 422 {
		t.Errorf("envelope: %s", raw)
	}
	detail := doc["data"].(map[string]any)["detail"].([]any)
	if fmt.Sprint(detail[0].(map[string]any)["loc"]) != "[body jobs 1 runs]" || fmt.Sprint(detail[1].(map[string]any)["loc"]) != "[body sequence_builder]" {
		t.Errorf("detail: %v", detail)
	}
	if desc := e.Data.Description; desc != "validation failed: body.jobs[1].runs: expected number >= 1; body.sequence_builder: expected required property sequence_builder to be present" {
		t.Errorf("description: %s", desc)
	}
}

func TestFromHumaStatuses(t *testing.T) {
	// huma's 400s (bodies that are not JSON) are input errors: 422.
	if s := FromHuma(http.StatusBadRequest, "bad").GetStatus(); s != 422 {
		t.Errorf("400 → %d", s)
	}
	// An error carrying its own status wins (e.g. gzip read errors).
	if s := FromHuma(http.StatusInternalServerError, "cannot read request body", New(http.StatusRequestEntityTooLarge, "too large")).GetStatus(); s != 413 {
		t.Errorf("wrapped status → %d", s)
	}
	if e := FromHuma(http.StatusInternalServerError, "boom").(*Error); e.Status != "error" {
		t.Errorf("5xx status %q", e.Status)
	}
}

func TestInvalidAndPage(t *testing.T) {
	e := Invalid("unknown project x", "body", "project_id")
	if e.GetStatus() != 422 || e.Data.Description != "body.project_id: unknown project x" {
		t.Errorf("invalid: %+v", e)
	}
	p := NewPage([]int(nil), 10, 12)
	if p.Data == nil || p.Pagination.Start != 10 || p.Pagination.End != 10 || p.Pagination.Total != 12 {
		t.Errorf("page: %+v", p)
	}
}
