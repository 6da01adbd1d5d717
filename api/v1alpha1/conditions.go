package v1alpha1

// Condition types and annotations of the execution controllers (added beside
// the shared ones in common.go).
const (
	// ConditionRunner is true while a live runner works on a started batch;
	// false with the reason when it died, was stopped, or has finished.
	ConditionRunner = "Runner"
	// ConditionTimeLimit turns true when a batch ran past its time limit.
	ConditionTimeLimit = "TimeLimitExceeded"
	// ReasonQuotaExceeded on the JobsCreated or the Runner condition (status
	// False): the project's ResourceQuota refused a Job or a runner Pod; the
	// message names the quota and the resource, and the controller tries
	// again as the quota frees.
	ReasonQuotaExceeded = "QuotaExceeded"
	// ReasonJobBudget on the JobsCreated condition (status False): the
	// project has created jobs faster than its job budget allows, and the
	// batch's jobs are created when the budget holds them.
	ReasonJobBudget = "JobBudget"
	// JobsChargedAnnotation on a batch is how many of its first spec.jobs
	// entries the REST facade charged to its project's write budget, so
	// that the manager's job budget does not charge them again. Only the
	// platform may set or change it (admission policy tweezer-owner).
	JobsChargedAnnotation = "quantum.tweezer.dev/jobs-charged"

	// RunnerFailuresAnnotation on a runner Lease counts consecutive runner
	// deaths that happened while no job was RUNNING and after no job
	// finished.
	RunnerFailuresAnnotation = "quantum.tweezer.dev/runner-failures"
	// RunnerFinishedJobsAnnotation on a runner Lease is how many of the
	// batch's jobs were finished when the runner started: a runner that
	// dies after finishing more made progress.
	RunnerFinishedJobsAnnotation = "quantum.tweezer.dev/runner-finished-jobs"
)
