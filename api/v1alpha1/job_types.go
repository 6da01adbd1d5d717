package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JobSpec is one execution request of a batch's sequence.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.canceled) || !oldSelf.canceled || (has(self.canceled) && self.canceled)",message="canceled: a canceled job stays canceled"
type JobSpec struct {
	// BatchName is the Batch, in the same namespace, that this job belongs to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="batchName is immutable"
	BatchName string `json:"batchName"`

	// Runs is the number of shots.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="runs is immutable"
	Runs int32 `json:"runs"`

	// Variables are substituted into the sequence before execution.
	// +optional
	Variables *apiextensionsv1.JSON `json:"variables,omitempty"`

	// Sequence is the job's own Pulser sequence (abstract representation),
	// run instead of the batch's sequenceBuilder. A job with neither fails.
	// +kubebuilder:validation:MaxLength=1048576
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="sequence is immutable"
	// +optional
	Sequence string `json:"sequence,omitempty"`

	// CreationOrder is the 1-based position of the job in its batch; jobs run in this order.
	// +kubebuilder:validation:Minimum=1
	CreationOrder int32 `json:"creationOrder"`

	// ParentID is the job this one was copied from by a rebatch.
	// +optional
	ParentID string `json:"parentID,omitempty"`

	// UserID is the id of the user who created the job.
	// +optional
	UserID string `json:"userID,omitempty"`

	// Canceled asks for this job to stop: the controller cancels it while it
	// is PENDING, the runner stops it when it runs; either writes CANCELED.
	// +optional
	Canceled bool `json:"canceled,omitempty"`
}

// JobStatusFields is what the runner observed of a Job. A terminal phase is
// final: the API server refuses to change it, so a late write (a stale
// cancel, a runner's report) never turns DONE into CANCELED or back.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.phase) || !(oldSelf.phase in ['DONE', 'ERROR', 'CANCELED']) || (has(self.phase) && self.phase == oldSelf.phase)",message="phase: a job in a terminal phase (DONE, ERROR, CANCELED) keeps it"
type JobStatusFields struct {
	// Phase is the job status of the cloud API. A Job nobody wrote a status
	// for yet reads as PENDING (a schema default, so no write is needed).
	// +kubebuilder:default=PENDING
	// +optional
	Phase JobStatus `json:"phase,omitempty"`

	// Conditions describe the job's execution.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Progress is the completed share of the job, in percent.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Progress int32 `json:"progress,omitempty"`

	// Attempts counts the runner starts of this job (retries after a runner died).
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// Errors reported while running the job.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Errors []string `json:"errors,omitempty"`

	// Counter maps each measured bitstring (first atom leftmost, 1 = Rydberg) to its count.
	// +optional
	Counter map[string]int64 `json:"counter,omitempty"`

	// Raw holds the measured shots, in order, when they fit comfortably in
	// status (InlineRawBytes); a larger result lives in the ConfigMap that
	// ResultRef names instead.
	// +kubebuilder:validation:MaxItems=4096
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=atomic
	// +optional
	Raw []string `json:"raw,omitempty"`

	// ResultRef names the ConfigMap, owned by the job, that holds the full
	// result with raw shots when they do not fit in Raw.
	// +optional
	ResultRef string `json:"resultRef,omitempty"`

	// StartTime is when the job started running.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// EndTime is when the job reached a terminal status.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=qjob;qj,categories=tweezer
// +kubebuilder:printcolumn:name="Batch",type=string,JSONPath=`.spec.batchName`
// +kubebuilder:printcolumn:name="Order",type=integer,JSONPath=`.spec.creationOrder`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Runs",type=integer,JSONPath=`.spec.runs`
// +kubebuilder:printcolumn:name="Progress",type=integer,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Job is one execution of a batch's sequence with its own runs and variables.
// In kubectl it is jobs.quantum.tweezer.dev (short name qjob); plain "jobs"
// still means batch/v1 Jobs.
type Job struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec JobSpec `json:"spec"`
	// +kubebuilder:default={phase: PENDING}
	Status JobStatusFields `json:"status,omitempty"`
}

// CurrentPhase is the job's phase: PENDING when no status was written (the
// CRD defaults it, but a Job built in memory may lack it).
func (j *Job) CurrentPhase() JobStatus {
	if j.Status.Phase == "" {
		return JobPending
	}
	return j.Status.Phase
}

// +kubebuilder:object:root=true

// JobList is a list of Jobs.
type JobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Job `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Job{}, &JobList{})
}
