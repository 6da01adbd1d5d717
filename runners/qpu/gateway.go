package qpu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tweezer-dev/tweezer/runners/engine"
)

// Gateway is a built-in QPU gateway that emulates a Fresnel QPU: it runs one
// job at a time in submission order with the emulator engine set up for
// Fresnel (its specs and noise), and, like a real QPU, takes ShotTime per
// shot. It serves the protocol of README.md: every request is authenticated,
// and a job is visible to and cancelable by the identity that submitted it
// only. Job ids are random 128-bit numbers.
type Gateway struct {
	// Engine runs the jobs (the emulator with Fresnel's specs and noise).
	Engine engine.Engine
	// Specs is the device JSON served on GET /v1/specs.
	Specs string
	// Auth authenticates every request's bearer token (a TokenReviewer in
	// local mode). Nil accepts every request as one anonymous caller: for
	// tests of the protocol only.
	Auth Authenticator
	// ShotTime is how long the emulated QPU takes per shot (0: as fast as the engine).
	ShotTime time.Duration

	mu    sync.Mutex
	jobs  map[string]*gwJob
	queue chan *gwJob
	once  sync.Once
}

type gwJob struct {
	// owner is the identity that submitted the job.
	owner  string
	mu     sync.Mutex
	state  JobState
	req    engine.Task
	cancel context.CancelFunc
	ctx    context.Context
}

func (j *gwJob) snapshot() JobState {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state
}

// Start runs the gateway's QPU loop until ctx ends.
func (g *Gateway) Start(ctx context.Context) {
	g.init()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case j := <-g.queue:
				g.execute(j)
			}
		}
	}()
}

func (g *Gateway) init() {
	g.once.Do(func() {
		g.jobs = map[string]*gwJob{}
		g.queue = make(chan *gwJob, 1024)
	})
}

func (g *Gateway) execute(j *gwJob) {
	j.mu.Lock()
	if j.state.Status != StatusQueued {
		j.mu.Unlock()
		return
	}
	j.state.Status = StatusRunning
	ctx := j.ctx
	j.mu.Unlock()
	progress := func(p int) {
		j.mu.Lock()
		if p > j.state.Progress && p < 100 {
			j.state.Progress = p
		}
		j.mu.Unlock()
	}
	// A panicking engine fails its job (ERROR with the panic's message), not the gateway.
	res, err := engine.Run(ctx, g.Engine, j.req, func(p int) { progress(p / 2) })
	if err == nil && g.ShotTime > 0 {
		// The emulated QPU's timing: shots take ShotTime each.
		for shot := 0; shot < j.req.Runs && err == nil; shot++ {
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-time.After(g.ShotTime):
				progress(50 + 50*(shot+1)/j.req.Runs)
			}
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.state.Status == StatusCanceled || errors.Is(err, context.Canceled):
		j.state.Status = StatusCanceled
	case err != nil:
		j.state.Status, j.state.Error = StatusError, err.Error()
	default:
		j.state.Status, j.state.Progress, j.state.Result = StatusDone, 100, res
	}
}

// ServeHTTP serves the gateway protocol.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.init()
	caller := ""
	if g.Auth != nil {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			token = ""
		}
		id, err := g.Auth.Authenticate(r.Context(), token)
		if err != nil {
			code := http.StatusUnauthorized
			if !errors.Is(err, ErrUnauthenticated) {
				code = http.StatusServiceUnavailable // the review itself failed: retry
			}
			writeJSON(w, code, map[string]string{"error": err.Error()})
			return
		}
		caller = id
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/v1/specs" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(g.Specs))
	case path == "/v1/jobs" && r.Method == http.MethodPost:
		g.submit(w, r, caller)
	case strings.HasPrefix(path, "/v1/jobs/"):
		id := strings.TrimPrefix(path, "/v1/jobs/")
		g.mu.Lock()
		j, ok := g.jobs[id]
		g.mu.Unlock()
		if !ok || j.owner != caller { // another caller's job does not exist for this one

			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no job " + id})
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, j.snapshot())
		case http.MethodDelete:
			j.mu.Lock()
			if !terminal(j.state.Status) {
				j.state.Status = StatusCanceled
				j.cancel()
			}
			j.mu.Unlock()
			writeJSON(w, http.StatusAccepted, j.snapshot())
		default:
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or DELETE"})
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no route " + r.Method + " " + path})
	}
}

func (g *Gateway) submit(w http.ResponseWriter, r *http.Request, caller string) {
	var req engine.Task
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20))
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid job: " + err.Error()})
		return
	}
	if err := req.ParseEmulation(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if req.Sequence == "" || req.Runs < 1 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "a job needs a sequence and runs >= 1"})
		return
	}
	id, err := newJobID()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "no job id: " + err.Error()})
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.mu.Lock()
	j := &gwJob{owner: caller, state: JobState{ID: id, Status: StatusQueued}, req: req, ctx: ctx, cancel: cancel}
	g.jobs[id] = j
	g.mu.Unlock()
	select {
	case g.queue <- j:
	default:
		cancel()
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the QPU queue is full"})
		return
	}
	writeJSON(w, http.StatusCreated, j.snapshot())
}

// newJobID returns a random 128-bit job id, in hex: ids cannot be guessed
// from one another.
func newJobID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
