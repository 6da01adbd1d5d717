package controllers

import (
	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
)

// Batch status derivation.
//
// A batch's status is derived from its Jobs, its spec and where it is in the
// queue, by these rules, first match wins:
//
//  1. A terminal status (DONE, ERROR, CANCELED, TIMED_OUT) never changes.
//  2. TIMED_OUT: the batch ran longer than its time limit (spec.timeLimit,
//     else the device's spec.timeLimit, else the manager's default). Its
//     runner is stopped and its unfinished jobs become CANCELED with the
//     reason in their errors.
//  3. CANCELED: the batch is canceled (spec.canceled) and none of its jobs is
//     PENDING or RUNNING any more (the runner stops the running one
//     promptly; the manager cancels the pending ones).
//  4. Complete: the batch is closed (spec.open false), every inline job
//     exists, and every job is terminal. Then the batch is ERROR if any job
//     is ERROR, else DONE if any job is DONE, else CANCELED (every job was
//     canceled). A closed batch without jobs is DONE.
//  5. RUNNING: the batch was given a device (status.deviceID) and a runner.
//     An open batch stays RUNNING, waiting for jobs, until it is closed.
//  6. PAUSED: the batch waits and the active devices of its type are all DOWN.
//  7. PENDING: otherwise; the Scheduled condition says why it waits (no
//     device of its type, no active device, or its turn in the queue).
//
// A batch whose runner keeps dying before running any job becomes ERROR
// through rule 4: the manager marks its unfinished jobs ERROR with the reason.
//
// jobsCount counts the batch's Jobs; jobsCountPerStatus counts them per job
// status (a job without a status counts as PENDING). startTime is set when the
// batch gets its device, endTime when it becomes terminal.

// jobCounts counts jobs per status; a job without a status is PENDING.
func jobCounts(jobs []quantumv1alpha1.Job) map[quantumv1alpha1.JobStatus]int32 {
	counts := map[quantumv1alpha1.JobStatus]int32{}
	for _, s := range quantumv1alpha1.JobStatuses {
		counts[s] = 0
	}
	for i := range jobs {
		counts[jobs[i].CurrentPhase()]++
	}
	return counts
}

// finishedJobs counts the jobs in a terminal status.
func finishedJobs(jobs []quantumv1alpha1.Job) int {
	n := 0
	for i := range jobs {
		if jobs[i].CurrentPhase().Terminal() {
			n++
		}
	}
	return n
}

// addedJobs reports whether the batch has jobs besides its inline ones, or
// none inline: jobs added while it was open (by the REST facade).
func addedJobs(b *quantumv1alpha1.Batch, jobs []quantumv1alpha1.Job) bool {
	return len(b.Spec.Jobs) == 0 || len(jobs) > len(b.Spec.Jobs)
}

// derivePhase applies rules 1 and 3–7 (rule 2 is the time-limit phase's).
func derivePhase(b *quantumv1alpha1.Batch, jobs []quantumv1alpha1.Job, waiting scheduler.Waiting) quantumv1alpha1.BatchStatus {
	if b.Status.Phase.Terminal() {
		return b.Status.Phase
	}
	counts := jobCounts(jobs)
	if b.Spec.Canceled && counts[quantumv1alpha1.JobRunning] == 0 && counts[quantumv1alpha1.JobPending] == 0 {
		return quantumv1alpha1.BatchCanceled
	}
	unfinished := counts[quantumv1alpha1.JobPending] + counts[quantumv1alpha1.JobRunning]
	if !b.Spec.Open && len(jobs) >= len(b.Spec.Jobs) && unfinished == 0 {
		switch {
		case counts[quantumv1alpha1.JobError] > 0:
			return quantumv1alpha1.BatchError
		case counts[quantumv1alpha1.JobDone] > 0 || len(jobs) == 0:
			return quantumv1alpha1.BatchDone
		default:
			return quantumv1alpha1.BatchCanceled
		}
	}
	if b.Status.DeviceID != "" {
		return quantumv1alpha1.BatchRunning
	}
	if waiting == scheduler.WaitingDeviceDown {
		return quantumv1alpha1.BatchPaused
	}
	return quantumv1alpha1.BatchPending
}
