package batchrunner

import (
	"testing"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

func job(name string, order int32, phase quantumv1alpha1.JobStatus, canceled bool) quantumv1alpha1.Job {
	j := quantumv1alpha1.Job{}
	j.Name, j.Spec.BatchName, j.Spec.CreationOrder, j.Status.Phase, j.Spec.Canceled = name, "b", order, phase, canceled
	return j
}

func TestPickRunsJobsInCreationOrderAndKnowsWhenTheBatchIsComplete(t *testing.T) {
	closed := &quantumv1alpha1.Batch{}
	closed.Name = "b"
	closed.Spec.Jobs = make([]quantumv1alpha1.InlineJob, 3)
	open := closed.DeepCopy()
	open.Spec.Open = true

	cases := []struct {
		name     string
		batch    *quantumv1alpha1.Batch
		jobs     []quantumv1alpha1.Job
		next     string
		complete bool
	}{
		{"lowest creation order first, whatever the list order", closed, []quantumv1alpha1.Job{
			job("c", 3, "", false), job("a", 1, quantumv1alpha1.JobDone, false), job("b", 2, quantumv1alpha1.JobPending, false)}, "b", false},
		{"canceled and finished jobs are skipped", closed, []quantumv1alpha1.Job{
			job("a", 1, quantumv1alpha1.JobPending, true), job("b", 2, quantumv1alpha1.JobError, false), job("c", 3, "", false)}, "c", false},
		{"closed and nothing left: complete", closed, []quantumv1alpha1.Job{
			job("a", 1, quantumv1alpha1.JobDone, false), job("b", 2, quantumv1alpha1.JobCanceled, false), job("c", 3, quantumv1alpha1.JobPending, true)}, "", true},
		{"inline jobs not all created yet: wait", closed, []quantumv1alpha1.Job{
			job("a", 1, quantumv1alpha1.JobDone, false)}, "", false},
		{"a job this runner ran is not run again, even if the cache still shows it PENDING", closed, []quantumv1alpha1.Job{
			job("ran", 1, quantumv1alpha1.JobPending, false), job("b", 2, quantumv1alpha1.JobPending, false), job("c", 3, quantumv1alpha1.JobDone, false)}, "b", false},
		{"the last job ran: complete", closed, []quantumv1alpha1.Job{
			job("a", 1, quantumv1alpha1.JobDone, false), job("b", 2, quantumv1alpha1.JobDone, false), job("ran", 3, quantumv1alpha1.JobPending, false)}, "", true},
		{"open batch: wait for more jobs", open, []quantumv1alpha1.Job{
			job("a", 1, quantumv1alpha1.JobDone, false), job("b", 2, quantumv1alpha1.JobDone, false), job("c", 3, quantumv1alpha1.JobDone, false)}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, complete := pick(c.batch, c.jobs, map[string]bool{"ran": true})
			got := ""
			if next != nil {
				got = next.Name
			}
			if got != c.next || complete != c.complete {
				t.Fatalf("pick = %q, %v; want %q, %v", got, complete, c.next, c.complete)
			}
		})
	}
}

func TestAppendErrorKeepsTheAPICap(t *testing.T) {
	var errs []string
	for i := 0; i < maxErrors+5; i++ {
		errs = appendError(errs, "e")
	}
	if len(errs) != maxErrors {
		t.Fatalf("%d errors kept, want %d", len(errs), maxErrors)
	}
}
