// Command refshapes reads the text render of the reference API document
// (shared/reference/core-api.txt), parses every response sample, and writes
// the table of required keys and JSON types that the facade's conformance
// test checks (apiserver/server/testdata/reference-shapes.json).
//
//	go run ./hack/refshapes ../shared/reference/core-api.txt > apiserver/server/testdata/reference-shapes.json
//
// The render lost most paths, so the operation of each sample is given here,
// by the sample's position in the document (-list prints them).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// sample is one 200 response sample of the document.
type sample struct {
	Index int
	Title string
	Doc   any
}

// operations names the operation of each sample index (see -list). Samples
// of routes that the contract (shared/API.md) does not serve are left out.
var operations = map[int][]string{
	0:  {"GET /api/v1/batches/last_activity"},
	1:  {"GET /api/v1/batches"},
	2:  {"POST /api/v1/batches"},
	3:  {"GET /api/v1/batches/{batch_id}"},
	4:  {"PATCH /api/v1/batches/{batch_id}/status"},
	5:  {"PUT /api/v1/batches/{batch_id}/cancel"},
	6:  {"PATCH /api/v1/batches/cancel", "PATCH /api/v2/batches/cancel"},
	7:  {"PUT /api/v1/batches/{batch_id}/complete"},
	8:  {"POST /api/v1/batches/{batch_id}/jobs"},
	9:  {"POST /api/v1/batches/{batch_id}/rebatch"},
	10: {"PUT /api/v1/batches/{batch_id}/cancel/jobs"},
	11: {"GET /api/v1/batches/{batch_id}/results_link"},
	12: {"GET /api/v2/batches/{batch_id}"},
	13: {"PATCH /api/v2/batches/{batch_id}/cancel/jobs"},
	14: {"PATCH /api/v2/batches/{batch_id}/cancel"},
	15: {"PATCH /api/v2/batches/{batch_id}/complete"},
	16: {"POST /api/v2/batches/{batch_id}/jobs"},
	17: {"GET /api/v1/devices"},
	18: {"POST /api/v1/devices"},
	19: {"PATCH /api/v1/devices/{device_id}/status"},
	20: {"PATCH /api/v1/devices/status"},
	21: {"GET /api/v1/devices/{dt_name}/queue"},
	22: {"GET /api/v1/devices/specs/{device_type}"},
	23: {"PATCH /api/v1/devices/specs/{device_type}"},
	24: {"GET /api/v1/jobs/statistics/frequency"},
	25: {"POST /api/v1/jobs/{job_id}/errors"},
	26: {"PUT /api/v1/jobs/{job_id}/status"},
	27: {"GET /api/v1/jobs/{job_id}"},
	28: {"PATCH /api/v1/jobs/{job_id}"},
	29: {"PUT /api/v1/jobs/{job_id}/cancel"},
	30: {"GET /api/v1/jobs"},
	31: {"GET /api/v2/jobs/{job_id}"},
	32: {"GET /api/v2/jobs"},
	33: {"PATCH /api/v2/jobs/{job_id}/cancel"},
	34: {"GET /api/v1/learners/{package}"},
	35: {"PATCH /api/v1/learners/{package}"},
	// 36: the notebook sample is empty ({}).
	37: {"GET /api/v1/projects/{project_id}/learners"},
	38: {"POST /api/v1/use-cases"},
	39: {"GET /api/v1/use-cases/{use_case_id}"},
	40: {"PATCH /api/v1/use-cases/{use_case_id}"},
	41: {"GET /api/v1/projects/{project_id}/use-cases/mine"},
	42: {"GET /api/v1/projects/{project_id}/use-cases/team"},
	43: {"GET /api/v1/use-cases/examples"},
	44: {"POST /api/v1/use-cases/{use_case_id}/review"},
	45: {"POST /api/v1/workloads"},
	46: {"POST /api/v1/workloads/{workload_id}/result"},
	47: {"POST /api/v1/workloads/{workload_id}/errors"},
	48: {"PUT /api/v1/workloads/{workload_id}/status"},
	49: {"PUT /api/v1/workloads/{workload_id}/cancel"},
	50: {"GET /api/v2/workloads/{workload_id}"},
	51: {"GET /api/v1/workloads"},
	52: {"GET /api/v1/workloads/{workload_id}"},
	53: {"POST /api/v1/quizzes/{strapi_quiz_id}"},
	54: {"PATCH /api/v1/quizzes/{quiz_id}"},
}

// Entry is one row of the table: an operation, the document's title of it,
// and its required keys with their JSON types. Keys are paths: "data.jobs[]"
// is each element of the array, "data.errors.*" each value of a map.
type Entry struct {
	Operation string            `json:"operation"`
	Title     string            `json:"title"`
	Sample    int               `json:"sample"`
	Keys      map[string]string `json:"keys"`
}

func main() {
	list := flag.Bool("list", false, "print each sample's index and title instead of the table")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: refshapes [-list] core-api.txt")
		os.Exit(2)
	}
	samples, err := parse(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *list {
		for _, s := range samples {
			raw, _ := json.Marshal(s.Doc)
			fmt.Printf("%d\t%s\t%.100s\n", s.Index, s.Title, raw)
		}
		return
	}
	var out []Entry
	for _, s := range samples {
		for _, op := range operations[s.Index] {
			keys := map[string]string{}
			walk("", s.Doc, keys)
			out = append(out, Entry{Operation: op, Title: s.Title, Sample: s.Index, Keys: keys})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Operation < out[j].Operation })
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// dash drops the render's list markers: "{- \"a\"", "], - \"b\"", "- \"c\"".
var dash = regexp.MustCompile(`(^|[\[{,])\s*- `)

// parse returns the 200 samples in document order, each with the title of
// its operation (the line that follows the previous sample, when it is one).
func parse(path string) ([]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []sample
	title := ""
	afterSample := true
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if afterSample && line != "Response samples" && line != "" {
			title = line
		}
		afterSample = false
		if line != "Response samples" {
			continue
		}
		// "- 200", "- 422", then the 200 sample.
		i += 3
		var buf strings.Builder
		depth := 0
		for ; i < len(lines); i++ {
			l := dash.ReplaceAllString(lines[i], "$1")
			buf.WriteString(l)
			buf.WriteByte('\n')
			depth += strings.Count(l, "{") + strings.Count(l, "[") - strings.Count(l, "}") - strings.Count(l, "]")
			if depth == 0 {
				break
			}
		}
		var doc any
		if err := json.Unmarshal([]byte(buf.String()), &doc); err != nil {
			return nil, fmt.Errorf("sample %d (%s), ending line %d: %w\n%s", len(out), title, i+1, err, buf.String())
		}
		if len(out) == 0 {
			title = "Get Last Activity Date" // the first title shares its line with the document's
		}
		out = append(out, sample{Index: len(out), Title: title, Doc: doc})
		afterSample = true
		title = ""
	}
	return out, nil
}

// walk records the JSON type of every key under prefix. An empty object is
// free-form; an object whose keys are property1, property2... is a map.
func walk(prefix string, v any, keys map[string]string) {
	if prefix != "" {
		keys[prefix] = jsonType(v)
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["property1"]; ok {
			walk(join("*"), x["property1"], keys)
			return
		}
		for k, e := range x {
			walk(join(k), e, keys)
		}
	case []any:
		if len(x) > 0 {
			walk(prefix+"[]", x[0], keys)
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}
