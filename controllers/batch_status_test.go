package controllers

import (
	"testing"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
)

func jobsWith(phases ...quantumv1alpha1.JobStatus) []quantumv1alpha1.Job {
	out := make([]quantumv1alpha1.Job, len(phases))
	for i, p := range phases {
		out[i].Status.Phase = p
	}
	return out
}

func TestDerivePhase(t *testing.T) {
	const (
		pending  = quantumv1alpha1.JobPending
		running  = quantumv1alpha1.JobRunning
		done     = quantumv1alpha1.JobDone
		errored  = quantumv1alpha1.JobError
		canceled = quantumv1alpha1.JobCanceled
	)
	type batchOpts struct {
		phase    quantumv1alpha1.BatchStatus
		open     bool
		canceled bool
		started  bool
		inline   int
	}
	cases := []struct {
		name    string
		batch   batchOpts
		jobs    []quantumv1alpha1.Job
		waiting scheduler.Waiting
		want    quantumv1alpha1.BatchStatus
	}{
		{"terminal is sticky", batchOpts{phase: quantumv1alpha1.BatchTimedOut}, jobsWith(done), "", quantumv1alpha1.BatchTimedOut},
		{"canceled, nothing running", batchOpts{canceled: true, started: true}, jobsWith(done, canceled), "", quantumv1alpha1.BatchCanceled},
		{"canceled, a job still running", batchOpts{canceled: true, started: true}, jobsWith(done, running), "", quantumv1alpha1.BatchRunning},
		{"canceled, a job not yet canceled", batchOpts{canceled: true}, jobsWith(canceled, pending), "", quantumv1alpha1.BatchPending},
		{"all done", batchOpts{started: true, inline: 2}, jobsWith(done, done), "", quantumv1alpha1.BatchDone},
		{"done and canceled jobs", batchOpts{started: true}, jobsWith(done, canceled), "", quantumv1alpha1.BatchDone},
		{"an error among finished jobs", batchOpts{started: true}, jobsWith(done, errored, canceled), "", quantumv1alpha1.BatchError},
		{"every job canceled", batchOpts{started: true}, jobsWith(canceled, canceled), "", quantumv1alpha1.BatchCanceled},
		{"closed without jobs", batchOpts{}, nil, "", quantumv1alpha1.BatchDone},
		{"inline jobs not all created yet", batchOpts{started: true, inline: 3}, jobsWith(done, done), "", quantumv1alpha1.BatchRunning},
		{"open batch with all jobs done", batchOpts{open: true, started: true}, jobsWith(done), "", quantumv1alpha1.BatchRunning},
		{"started, jobs pending", batchOpts{started: true}, jobsWith(done, pending), "", quantumv1alpha1.BatchRunning},
		{"waiting, device down", batchOpts{}, jobsWith(pending), scheduler.WaitingDeviceDown, quantumv1alpha1.BatchPaused},
		{"waiting, no device", batchOpts{}, jobsWith(pending), scheduler.WaitingNoDevice, quantumv1alpha1.BatchPending},
		{"waiting its turn", batchOpts{}, jobsWith(""), scheduler.WaitingQueued, quantumv1alpha1.BatchPending},
		{"open and waiting", batchOpts{open: true}, nil, scheduler.WaitingQueued, quantumv1alpha1.BatchPending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &quantumv1alpha1.Batch{}
			b.Status.Phase = c.batch.phase
			b.Spec.Open, b.Spec.Canceled = c.batch.open, c.batch.canceled
			if c.batch.started {
				b.Status.DeviceID = "dev"
			}
			b.Spec.Jobs = make([]quantumv1alpha1.InlineJob, c.batch.inline)
			if got := derivePhase(b, c.jobs, c.waiting); got != c.want {
				t.Fatalf("derivePhase = %s, want %s", got, c.want)
			}
		})
	}
}

func TestJobCountsCountsUnsetAsPending(t *testing.T) {
	counts := jobCounts(jobsWith("", quantumv1alpha1.JobPending, quantumv1alpha1.JobDone))
	if counts[quantumv1alpha1.JobPending] != 2 || counts[quantumv1alpha1.JobDone] != 1 || len(counts) != len(quantumv1alpha1.JobStatuses) {
		t.Fatalf("counts = %v", counts)
	}
}

func TestHolderRoundTrip(t *testing.T) {
	key, gen, ok := parseHolder(holderID("ns", "b-1", 7))
	if !ok || key.Namespace != "ns" || key.Name != "b-1" || gen != 7 {
		t.Fatalf("parseHolder = %v %d %v", key, gen, ok)
	}
	for _, bad := range []string{"", "ns/b", "nb#3", "ns/b#x"} {
		if _, _, ok := parseHolder(bad); ok {
			t.Errorf("parseHolder(%q) accepted", bad)
		}
	}
}

func TestAddedJobsAsksForAFreshListOnlyWhenJobsCameFromOutsideTheSpec(t *testing.T) {
	inline := func(n int) *quantumv1alpha1.Batch {
		b := &quantumv1alpha1.Batch{}
		b.Spec.Jobs = make([]quantumv1alpha1.InlineJob, n)
		return b
	}
	done := quantumv1alpha1.JobDone
	cases := []struct {
		name  string
		batch *quantumv1alpha1.Batch
		jobs  []quantumv1alpha1.Job
		want  bool
	}{
		{"inline jobs only (GitOps)", inline(2), jobsWith(done, done), false},
		{"no inline jobs: every job was added", inline(0), jobsWith(done), true},
		{"no inline jobs and none seen yet", inline(0), nil, true},
		{"a job added beside the inline ones", inline(1), jobsWith(done, done), true},
	}
	for _, c := range cases {
		if got := addedJobs(c.batch, c.jobs); got != c.want {
			t.Errorf("%s: addedJobs = %v, want %v", c.name, got, c.want)
		}
	}
}
