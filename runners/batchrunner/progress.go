package batchrunner

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// progressWriter writes a running job's progress at most once per interval,
// and only when it changed.
type progressWriter struct {
	c        client.Client
	job      *quantumv1alpha1.Job
	interval time.Duration

	mu      sync.Mutex
	percent int
	written int
	done    chan struct{}
	stopped chan struct{}
}

func newProgressWriter(c client.Client, job *quantumv1alpha1.Job, interval time.Duration) *progressWriter {
	return &progressWriter{c: c, job: job, interval: interval, done: make(chan struct{}), stopped: make(chan struct{})}
}

func (p *progressWriter) set(percent int) {
	if percent < 0 {
		percent = 0
	}
	if percent > 100 {
		percent = 100
	}
	p.mu.Lock()
	p.percent = percent
	p.mu.Unlock()
}

func (p *progressWriter) run(ctx context.Context) {
	defer close(p.stopped)
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.done:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		percent, written := p.percent, p.written
		p.mu.Unlock()
		if percent == written {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"progress": percent}})
		if err := p.c.Status().Patch(ctx, p.job.DeepCopy(), client.RawPatch("application/merge-patch+json", patch)); err == nil {
			p.mu.Lock()
			p.written = percent
			p.mu.Unlock()
		}
	}
}

// stop ends the writer and waits for an in-flight write, so that no progress
// write lands after the job's final status.
func (p *progressWriter) stop() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	<-p.stopped
}
