package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/internal/runnerspec"
	"github.com/tweezer-dev/tweezer/runners/batchrunner"
	"github.com/tweezer-dev/tweezer/runners/workerproto"
)

// TestServeReportsEveryAssignment feeds a worker a bad line, a command it
// does not serve, a batch with bad flags and a batch whose cluster is out of
// reach: each gets an outcome with the exit code a process of its own would
// have had, the cluster connection is made once per kubeconfig, and the
// worker ends when its input does.
func TestServeReportsEveryAssignment(t *testing.T) {
	line := func(a workerproto.Assignment) string {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	batch := []string{"batch", "--namespace", "ns", "--name", "b", "--runner-id", "ns/b#1", "--kubeconfig", "k"}
	in := "{not json\n" +
		line(workerproto.Assignment{ID: "w", Args: []string{"workload", "--name", "x"}}) +
		line(workerproto.Assignment{ID: "flags", Args: []string{"batch", "--name", "b"}}) +
		line(workerproto.Assignment{ID: "c1", Args: batch, Env: []string{runnerspec.TokenEnv + "=t"}}) +
		line(workerproto.Assignment{ID: "c2", Args: batch})
	connects := 0
	connect := func(string) (*batchrunner.Cluster, error) {
		connects++
		return nil, errors.New("cluster out of reach")
	}
	var out, stderr bytes.Buffer
	if code := serve(strings.NewReader(in), &out, &stderr, connect); code != 0 {
		t.Fatalf("serve = %d, want 0 at the end of its input; stderr:\n%s", code, &stderr)
	}
	var got []workerproto.Outcome
	dec := json.NewDecoder(&out)
	for dec.More() {
		var o workerproto.Outcome
		if err := dec.Decode(&o); err != nil {
			t.Fatal(err)
		}
		got = append(got, o)
	}
	want := []workerproto.Outcome{{ID: "", Code: 2}, {ID: "w", Code: 2}, {ID: "flags", Code: 2}, {ID: "c1", Code: 1}, {ID: "c2", Code: 1}}
	if len(got) != len(want) {
		t.Fatalf("outcomes %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("outcome %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// A failed connection is not kept: each assignment tries again.
	if connects != 2 {
		t.Errorf("%d connection attempts, want 2", connects)
	}
	for _, msg := range []string{"bad assignment", "only batch runners are served", "--namespace, --name and --runner-id are required", "cluster out of reach"} {
		if !strings.Contains(stderr.String(), msg) {
			t.Errorf("stderr lacks %q:\n%s", msg, &stderr)
		}
	}
}

// A panic while running one assignment is that assignment's exit code 1
// with the panic's message; the worker goes on with the next one.
func TestServeSurvivesAPanickingAssignment(t *testing.T) {
	a := workerproto.Assignment{ID: "p", Args: []string{"batch", "--namespace", "ns", "--name", "b", "--runner-id", "ns/b#1", "--kubeconfig", "k"}}
	b, _ := json.Marshal(a)
	in := string(b) + "\n" + string(b) + "\n"
	connect := func(string) (*batchrunner.Cluster, error) { panic("a nil cluster") }
	var out, stderr bytes.Buffer
	if code := serve(strings.NewReader(in), &out, &stderr, connect); code != 0 {
		t.Fatalf("serve = %d, want 0; stderr:\n%s", code, &stderr)
	}
	if got := strings.Count(out.String(), `"code":1`); got != 2 {
		t.Fatalf("outcomes %s, want two with code 1", &out)
	}
	if !strings.Contains(stderr.String(), "serve: assignment p panicked: a nil cluster") {
		t.Errorf("stderr lacks the panic:\n%s", &stderr)
	}
}
