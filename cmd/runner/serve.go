package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"

	"github.com/tweezer-dev/tweezer/runners/batchrunner"
	"github.com/tweezer-dev/tweezer/runners/workerproto"
)

func init() {
	register("serve", subcommand{
		summary: "run batch runners one after another as the manager's Process executor hands them over (runners/workerproto)",
		run: func(_ []string, _, stderr io.Writer) int {
			outcomes := os.NewFile(workerproto.OutcomeFD, "outcomes")
			if outcomes == nil {
				fmt.Fprintf(stderr, "serve: file descriptor %d (outcomes) is not open\n", workerproto.OutcomeFD)
				return 2
			}
			if path := os.Getenv(cpuProfileEnv); path != "" {
				stop, err := profileCPU(fmt.Sprintf("%s.%d", path, os.Getpid()))
				if err != nil {
					fmt.Fprintf(stderr, "serve: %v\n", err)
					return 1
				}
				defer stop()
			}
			return serve(os.Stdin, outcomes, stderr, connect)
		},
	})
}

// cpuProfileEnv, when set, makes each worker write a CPU profile of its
// whole life to $TWEEZER_RUNNER_CPUPROFILE.<pid> (for hack/bench-controllers).
const cpuProfileEnv = "TWEEZER_RUNNER_CPUPROFILE"

func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// serve reads assignments from in until it closes, runs each to the end with
// the batch subcommand, and writes its outcome to out. Cluster connections
// are kept per kubeconfig, so later assignments reuse them.
func serve(in io.Reader, out io.Writer, stderr io.Writer, connect func(kubeconfig string) (*batchrunner.Cluster, error)) int {
	var mu sync.Mutex
	clusters := map[string]*batchrunner.Cluster{}
	cached := func(kubeconfig string) (*batchrunner.Cluster, error) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clusters[kubeconfig]; ok {
			return c, nil
		}
		c, err := connect(kubeconfig)
		if err != nil {
			return nil, err
		}
		clusters[kubeconfig] = c
		return c, nil
	}
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	enc := json.NewEncoder(out)
	for lines.Scan() {
		var a workerproto.Assignment
		code := 2
		switch err := json.Unmarshal(lines.Bytes(), &a); {
		case err != nil:
			fmt.Fprintf(stderr, "serve: bad assignment: %v\n", err)
		case len(a.Args) == 0 || a.Args[0] != "batch":
			fmt.Fprintf(stderr, "serve: assignment %s: only batch runners are served, got %q\n", a.ID, a.Args)
		default:
			code = runRecovered(a.ID, stderr, func() int { return runBatchWith(a.Args[1:], stderr, envOf(a.Env), cached) })
		}
		if err := enc.Encode(workerproto.Outcome{ID: a.ID, Code: code}); err != nil {
			fmt.Fprintf(stderr, "serve: reporting the outcome of %s: %v\n", a.ID, err)
			return 1
		}
	}
	if err := lines.Err(); err != nil {
		fmt.Fprintf(stderr, "serve: reading assignments: %v\n", err)
		return 1
	}
	return 0
}

// runRecovered runs one assignment and turns a panic into exit code 1 with
// its message, so that the worker goes on with its other assignments. (An
// engine's panic never gets here: the batch runner fails that job.)
func runRecovered(id string, stderr io.Writer, run func() int) (code int) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(stderr, "serve: assignment %s panicked: %v\n%s", id, v, debug.Stack())
			code = 1
		}
	}()
	return run()
}

// envOf looks names up in an assignment's environment, then in the worker's.
func envOf(env []string) func(string) string {
	return func(name string) string {
		for _, kv := range env {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				return v
			}
		}
		return os.Getenv(name)
	}
}
