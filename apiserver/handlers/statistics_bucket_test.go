package handlers

import (
	"testing"
	"time"
)

// A fixture of job times spread over hours, days and months, counted into
// the buckets of each scope as the frequency statistic does.
func TestBucketsOfAFixtureSpreadOverHoursAndDays(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	jobs := []time.Time{
		at("2026-03-01T10:05:00Z"), at("2026-03-01T10:59:59Z"), // same hour
		at("2026-03-01T11:00:00Z"),                             // next hour, same day
		at("2026-03-01T23:30:00+02:00"),                        // 21:30 UTC, same day
		at("2026-03-02T00:00:00Z"),                             // next day
		at("2026-03-31T23:59:59Z"), at("2026-04-01T00:00:00Z"), // month boundary
	}
	want := map[string]map[string]int{
		"HOUR":  {"2026-03-01T10:00:00Z": 2, "2026-03-01T11:00:00Z": 1, "2026-03-01T21:00:00Z": 1, "2026-03-02T00:00:00Z": 1, "2026-03-31T23:00:00Z": 1, "2026-04-01T00:00:00Z": 1},
		"DAY":   {"2026-03-01T00:00:00Z": 4, "2026-03-02T00:00:00Z": 1, "2026-03-31T00:00:00Z": 1, "2026-04-01T00:00:00Z": 1},
		"MONTH": {"2026-03-01T00:00:00Z": 6, "2026-04-01T00:00:00Z": 1},
	}
	for scope, buckets := range want {
		got := map[string]int{}
		for _, j := range jobs {
			got[bucket(j, scope).Format(time.RFC3339)]++
		}
		if len(got) != len(buckets) {
			t.Errorf("%s: %v, want %v", scope, got, buckets)
		}
		for k, n := range buckets {
			if got[k] != n {
				t.Errorf("%s %s: %d, want %d (all: %v)", scope, k, got[k], n, got)
			}
		}
	}
}
