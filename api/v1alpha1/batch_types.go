package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxSequenceBytes caps a serialized sequence so that a Batch stays well under
// etcd's object size limit (about 1.5 MiB).
const MaxSequenceBytes = 1 << 20

// Size caps of a batch, enforced by the CRD schemas for every writer (the
// facade may be configured tighter; runs are also capped by the device's
// max_runs, config/admission).
const (
	// MaxJobsPerBatch caps spec.jobs, added jobs included.
	MaxJobsPerBatch = 1000
	// MaxRunsPerJob caps one job's runs (the engines' limit).
	MaxRunsPerJob = 10_000_000
	// MaxShotsPerBatch caps the runs of all of a batch's jobs together.
	MaxShotsPerBatch = 10_000_000
)

// InlineJob is a job declared inside a Batch, for GitOps users; the controller
// turns each entry into a Job resource.
type InlineJob struct {
	// Runs is the number of shots.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	Runs int32 `json:"runs"`

	// Variables are substituted into the sequence before execution.
	// +optional
	Variables *apiextensionsv1.JSON `json:"variables,omitempty"`

	// UserID is the user who added the job; the batch's user when unset.
	// +optional
	UserID string `json:"userID,omitempty"`

	// ParentID is the job this one was copied from by a rebatch.
	// +optional
	ParentID string `json:"parentID,omitempty"`

	// Sequence is the job's own Pulser sequence (abstract representation),
	// run instead of the batch's; required when the batch has none.
	// +kubebuilder:validation:MaxLength=1048576
	// +optional
	Sequence string `json:"sequence,omitempty"`
}

// BatchSpec is what a user asked for: one sequence, where to run it, and how.
// +kubebuilder:validation:XValidation:rule="(has(oldSelf.open) && oldSelf.open) || !has(self.open) || !self.open",message="open: a closed batch cannot be reopened"
// +kubebuilder:validation:XValidation:rule="(has(self.jobs) ? size(self.jobs) : 0) >= (has(oldSelf.jobs) ? size(oldSelf.jobs) : 0)",message="jobs: entries are never removed (each one is a Job)"
// +kubebuilder:validation:XValidation:rule="(has(self.jobs) ? size(self.jobs) : 0) == (has(oldSelf.jobs) ? size(oldSelf.jobs) : 0) || (has(oldSelf.open) && oldSelf.open && !(has(oldSelf.canceled) && oldSelf.canceled))",message="jobs: only an open batch that is not canceled accepts more jobs"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.canceled) || !oldSelf.canceled || (has(self.canceled) && self.canceled)",message="canceled: a canceled batch stays canceled"
// +kubebuilder:validation:XValidation:rule="(has(self.sequenceBuilder) && size(self.sequenceBuilder) > 0) || has(self.sequencesFrom) || (has(self.jobs) && self.jobs.all(j, has(j.sequence) && size(j.sequence) > 0))",message="sequenceBuilder is required unless sequencesFrom is set or every inline job has its own sequence",fieldPath=".sequenceBuilder"
// +kubebuilder:validation:XValidation:rule="has(self.sequencesFrom) == has(oldSelf.sequencesFrom)",message="sequencesFrom is immutable",fieldPath=".sequencesFrom"
// +kubebuilder:validation:XValidation:rule="!has(self.jobs) || self.jobs.map(j, j.runs).sum() <= 10000000",message="jobs: at most 10000000 runs in all (limit: total shots per batch)",fieldPath=".jobs"
type BatchSpec struct {
	// SequenceBuilder is the Pulser abstract representation (JSON, version
	// "1") that the batch's jobs run. It may be empty when every job carries
	// its own sequence (pasqal-cloud ≥ 0.22 sends per-job sequences).
	// +kubebuilder:validation:MaxLength=1048576
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="sequenceBuilder is immutable"
	// +optional
	SequenceBuilder string `json:"sequenceBuilder,omitempty"`

	// SequencesFrom names an immutable ConfigMap in the batch's namespace
	// that holds the batch's sequences instead of this spec: the key
	// "sequenceBuilder" stands for SequenceBuilder, "job-<i>" for the own
	// sequence of spec.jobs[i], for the jobs the batch was created with. An
	// entry of the spec, when set, wins. The facade moves large sequences
	// there, so that status writes and watch events of the Batch carry
	// kilobytes, not megabytes. Only a ConfigMap the batch owns is read.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="sequencesFrom is immutable"
	// +optional
	SequencesFrom string `json:"sequencesFrom,omitempty"`

	// DeviceType selects the device family that runs the batch.
	// +kubebuilder:default=FRESNEL
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="deviceType is immutable"
	// +optional
	DeviceType DeviceType `json:"deviceType,omitempty"`

	// UserID is the id of the user who created the batch.
	// +optional
	UserID string `json:"userID,omitempty"`

	// ParentID is the batch this one was rebatched from.
	// +optional
	ParentID string `json:"parentID,omitempty"`

	// Configuration is free-form execution configuration, e.g.
	// {"dt": 10.0, "precision": "normal", "strict_validation": false}.
	// +optional
	Configuration *apiextensionsv1.JSON `json:"configuration,omitempty"`

	// BackendConfiguration is a serialized emulation configuration, kept as given.
	// +optional
	BackendConfiguration string `json:"backendConfiguration,omitempty"`

	// Priority orders batches of the same queue priority; higher runs first.
	// +kubebuilder:default=0
	// +optional
	Priority int32 `json:"priority,omitempty"`

	// QueuePriority orders batches before Priority.
	// +kubebuilder:default=MEDIUM
	// +optional
	QueuePriority QueuePriority `json:"queuePriority,omitempty"`

	// Tags label the batch; each at most once.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	// +optional
	Tags []string `json:"tags,omitempty"`

	// Webhook receives the batch as JSON once it reaches a terminal status.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Webhook string `json:"webhook,omitempty"`

	// Open batches accept more jobs until they are closed.
	// +optional
	Open bool `json:"open,omitempty"`

	// Canceled asks the controllers to stop the batch and cancel its unfinished jobs.
	// +optional
	Canceled bool `json:"canceled,omitempty"`

	// TimeLimit bounds how long the batch may run; the device default applies when unset.
	// +optional
	TimeLimit *metav1.Duration `json:"timeLimit,omitempty"`

	// Jobs declared inline, and the jobs added to an open batch after it was
	// created (appended): the controller creates one Job per entry, numbered
	// by its position (creationOrder = index + 1). Entries are never removed.
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	Jobs []InlineJob `json:"jobs,omitempty"`
}

// BatchStatusFields is what the controllers and runners observed of a Batch.
// A terminal phase is final: the API server refuses to change it (a backstop
// behind the controller, the only writer of a batch's status).
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.phase) || !(oldSelf.phase in ['DONE', 'ERROR', 'CANCELED', 'TIMED_OUT']) || (has(self.phase) && self.phase == oldSelf.phase)",message="phase: a batch in a terminal phase (DONE, ERROR, CANCELED, TIMED_OUT) keeps it"
type BatchStatusFields struct {
	// Phase is the batch status of the cloud API.
	// +optional
	Phase BatchStatus `json:"phase,omitempty"`

	// Conditions describe scheduling, job creation and webhook delivery.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the spec generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// JobsCount is the number of Jobs of the batch.
	// +optional
	JobsCount int32 `json:"jobsCount,omitempty"`

	// JobsCountPerStatus counts the batch's Jobs by JobStatus.
	// +optional
	JobsCountPerStatus map[JobStatus]int32 `json:"jobsCountPerStatus,omitempty"`

	// DeviceID is the name of the Device that runs the batch.
	// +optional
	DeviceID string `json:"deviceID,omitempty"`

	// StartTime is when the batch started running.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// EndTime is when the batch reached a terminal status.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`

	// Webhook is the progress of the delivery of the terminal batch to
	// spec.webhook; the manager's webhook sender is its only writer (the
	// WebhookDelivered condition says the outcome).
	// +optional
	Webhook *WebhookDelivery `json:"webhook,omitempty"`
}

// WebhookDelivery records the attempts to POST a terminal batch to its
// webhook, so that a restarted manager neither grants more attempts nor
// retries before the backoff is over.
type WebhookDelivery struct {
	// Attempts counts the POSTs started; an attempt is recorded before its
	// POST is sent.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// LastAttemptTime is when the last POST was started.
	// +optional
	LastAttemptTime *metav1.Time `json:"lastAttemptTime,omitempty"`

	// NextAttemptTime is the earliest time of the next POST; unset once the
	// delivery succeeded or was given up.
	// +optional
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`

	// LastError is why the last attempt failed.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	LastError string `json:"lastError,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=qbatch;qb,categories=tweezer
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Device",type=string,JSONPath=`.spec.deviceType`
// +kubebuilder:printcolumn:name="Queue",type=string,JSONPath=`.spec.queuePriority`
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=`.spec.priority`,priority=1
// +kubebuilder:printcolumn:name="Jobs",type=integer,JSONPath=`.status.jobsCount`
// +kubebuilder:printcolumn:name="Done",type=integer,JSONPath=`.status.jobsCountPerStatus.DONE`
// +kubebuilder:printcolumn:name="Open",type=boolean,JSONPath=`.spec.open`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Batch is one pulse sequence with the jobs that run it on a device type.
type Batch struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BatchSpec         `json:"spec"`
	Status BatchStatusFields `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BatchList is a list of Batches.
type BatchList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Batch `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Batch{}, &BatchList{})
}
