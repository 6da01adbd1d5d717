package v1alpha1

// DeviceType names a device family, as the cloud API's DeviceTypeName. It is
// not a closed set: a device type is whatever Device resources declare (the
// SDK already knows FRESNEL_CAN1, and more QPUs will come). A Batch whose
// type no Device declares waits PENDING with the reason NoDevice.
// +kubebuilder:validation:Pattern=`^[A-Z][A-Z0-9_]*$`
// +kubebuilder:validation:MaxLength=63
type DeviceType string

// DeviceTypePattern is the form of a device type (upper-case letters, digits
// and underscores), as the CRD validates it.
const DeviceTypePattern = `^[A-Z][A-Z0-9_]*$`

// The device types the documentation names; others may be declared.
const (
	DeviceTypeEmuFree    DeviceType = "EMU_FREE"
	DeviceTypeEmuSV      DeviceType = "EMU_SV"
	DeviceTypeEmuTN      DeviceType = "EMU_TN"
	DeviceTypeEmuC       DeviceType = "EMU_C"
	DeviceTypeFresnel    DeviceType = "FRESNEL"
	DeviceTypeEmuFresnel DeviceType = "EMU_FRESNEL"
	DeviceTypeEmuMPS     DeviceType = "EMU_MPS"
)

// DeviceTypes lists the documented device types in the API's order.
var DeviceTypes = []DeviceType{
	DeviceTypeEmuFree, DeviceTypeEmuSV, DeviceTypeEmuTN, DeviceTypeEmuC,
	DeviceTypeFresnel, DeviceTypeEmuFresnel, DeviceTypeEmuMPS,
}

// QueuePriority orders batches of one device type before their numeric priority.
// +kubebuilder:validation:Enum=LOW;MEDIUM;HIGH
type QueuePriority string

// The queue priorities, lowest first.
const (
	QueuePriorityLow    QueuePriority = "LOW"
	QueuePriorityMedium QueuePriority = "MEDIUM"
	QueuePriorityHigh   QueuePriority = "HIGH"
)

// Rank orders queue priorities: HIGH > MEDIUM > LOW; an unknown value ranks lowest.
func (p QueuePriority) Rank() int {
	switch p {
	case QueuePriorityHigh:
		return 2
	case QueuePriorityMedium:
		return 1
	default:
		return 0
	}
}

// BatchStatus is the phase of a Batch, as the cloud API's BatchStatus.
// +kubebuilder:validation:Enum=PENDING;RUNNING;DONE;CANCELED;TIMED_OUT;ERROR;PAUSED
type BatchStatus string

// The batch phases.
const (
	BatchPending  BatchStatus = "PENDING"
	BatchRunning  BatchStatus = "RUNNING"
	BatchDone     BatchStatus = "DONE"
	BatchCanceled BatchStatus = "CANCELED"
	BatchTimedOut BatchStatus = "TIMED_OUT"
	BatchError    BatchStatus = "ERROR"
	BatchPaused   BatchStatus = "PAUSED"
)

// Terminal reports whether a batch in this phase will not change any more.
func (s BatchStatus) Terminal() bool {
	switch s {
	case BatchDone, BatchCanceled, BatchTimedOut, BatchError:
		return true
	}
	return false
}

// CanBecome reports whether a batch in phase s may move to next: a terminal
// phase is final (the same phase again is not a change). The CRD enforces
// the same rule on the status subresource.
func (s BatchStatus) CanBecome(next BatchStatus) bool {
	return !s.Terminal() || next == s
}

// JobStatus is the phase of a Job, as the cloud API's JobStatus.
// +kubebuilder:validation:Enum=PENDING;RUNNING;DONE;ERROR;CANCELED
type JobStatus string

// The job phases.
const (
	JobPending  JobStatus = "PENDING"
	JobRunning  JobStatus = "RUNNING"
	JobDone     JobStatus = "DONE"
	JobError    JobStatus = "ERROR"
	JobCanceled JobStatus = "CANCELED"
)

// JobStatuses lists every JobStatus in the API's order.
var JobStatuses = []JobStatus{JobPending, JobRunning, JobDone, JobError, JobCanceled}

// Terminal reports whether a job in this phase will not change any more.
func (s JobStatus) Terminal() bool {
	return s == JobDone || s == JobError || s == JobCanceled
}

// CanBecome reports whether a job in phase s may move to next: a terminal
// phase is final (the same phase again is not a change). The CRD enforces
// the same rule on the status subresource.
func (s JobStatus) CanBecome(next JobStatus) bool {
	return !s.Terminal() || next == s
}

// ResultsType is a kind of result a device can return.
// +kubebuilder:validation:Enum=counter;run;sample;expectation
type ResultsType string

// Labels and annotations shared by the controllers and the REST facade.
const (
	// ProjectIDLabel on a namespace names the project it holds.
	ProjectIDLabel = "quantum.tweezer.dev/project-id"
	// MaxQueuePriorityLabel on a project namespace caps the queue priority of its batches.
	MaxQueuePriorityLabel = "quantum.tweezer.dev/max-queue-priority"
	// QuotaAnnotation on a project namespace overrides some of the manager's
	// default object counts of the project's ResourceQuota, e.g.
	// "batches=5000,pods=100" (keys: batches, jobs, workloads, learners, pods).
	QuotaAnnotation = "quantum.tweezer.dev/quota"
	// ProjectGuardRails names the ResourceQuota and the LimitRange that the
	// manager keeps in every project namespace (controllers/project).
	ProjectGuardRails = "tweezer-project"
	// BatchLabel on a Job names its Batch.
	BatchLabel = "quantum.tweezer.dev/batch"
)

// Condition types used across the resources.
const (
	// ConditionScheduled is true once a batch has been given a runner.
	ConditionScheduled = "Scheduled"
	// ConditionJobsCreated is true once every inline job of a batch exists as a Job.
	ConditionJobsCreated = "JobsCreated"
	// ConditionWebhookDelivered records the outcome of the terminal webhook.
	ConditionWebhookDelivered = "WebhookDelivered"
	// ConditionComplete is true once a batch is terminal; its reason is the
	// terminal status (DONE, ERROR, CANCELED, TIMED_OUT), so that
	// `kubectl wait --for=condition=Complete` and GitOps health checks can
	// wait on a batch.
	ConditionComplete = "Complete"
	// ConditionReady is true on a device that can start batches.
	ConditionReady = "Ready"
)
