package qpu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tweezer-dev/tweezer/runners/engine"
)

// HTTPDriver runs jobs through a QPU gateway over HTTP (see README.md).
type HTTPDriver struct {
	// URL is the gateway's base URL.
	URL string
	// Token, when set, is sent as a bearer token.
	Token string
	// TokenFile, when set, holds the bearer token instead of Token. It is read
	// for every request, so that a token the kubelet rotates (a projected
	// service-account token) is always current.
	TokenFile string
	// Client defaults to a client with a 30 s timeout.
	Client *http.Client
	// PollInterval is the time between two status reads (default 200 ms).
	PollInterval time.Duration
	// MaxRetries bounds consecutive failed requests (network errors and 5xx)
	// before the job fails (default 5).
	MaxRetries int
}

func (d *HTTPDriver) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// Run submits the job, polls it until it ends, and cancels it when ctx ends.
func (d *HTTPDriver) Run(ctx context.Context, job engine.Task, progress func(int)) (*engine.Result, error) {
	body, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	var st JobState
	if err := d.retry(ctx, func() (int, error) { return d.do(ctx, http.MethodPost, "/v1/jobs", body, &st) }); err != nil {
		return nil, err
	}
	poll := d.PollInterval
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	for !terminal(st.Status) {
		select {
		case <-ctx.Done():
			d.cancel(st.ID)
			return nil, ctx.Err()
		case <-time.After(poll):
		}
		id := st.ID
		if err := d.retry(ctx, func() (int, error) { return d.do(ctx, http.MethodGet, "/v1/jobs/"+id, nil, &st) }); err != nil {
			if ctx.Err() != nil {
				d.cancel(id)
			}
			return nil, err
		}
		if progress != nil {
			progress(st.Progress)
		}
	}
	switch st.Status {
	case StatusDone:
		if st.Result == nil {
			return nil, fmt.Errorf("the gateway reported job %s DONE without a result", st.ID)
		}
		return st.Result, nil
	case StatusCanceled:
		return nil, fmt.Errorf("the gateway canceled job %s", st.ID)
	default:
		return nil, fmt.Errorf("the QPU failed job %s: %s", st.ID, st.Error)
	}
}

// cancel asks the gateway to cancel a job, best effort.
func (d *HTTPDriver) cancel(id string) {
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_, _ = d.do(ctx, http.MethodDelete, "/v1/jobs/"+id, nil, nil)
}

// retry repeats a request on network errors and 5xx answers.
func (d *HTTPDriver) retry(ctx context.Context, f func() (int, error)) error {
	max := d.MaxRetries
	if max <= 0 {
		max = 5
	}
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		code, err := f()
		if err == nil {
			return nil
		}
		if IsInputError(err) || (code >= 400 && code < 500) || attempt >= max || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// token is the bearer token to send, "" for none.
func (d *HTTPDriver) token() (string, error) {
	if d.TokenFile == "" {
		return d.Token, nil
	}
	b, err := os.ReadFile(d.TokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the gateway token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// do sends one request and decodes a JSON answer into out.
func (d *HTTPDriver) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(d.URL, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	token, err := d.token()
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity {
			return resp.StatusCode, &InputError{Msg: e.Error}
		}
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return resp.StatusCode, nil
}
