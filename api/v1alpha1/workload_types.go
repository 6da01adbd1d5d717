package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadType is the kind of workload, as the cloud API's WorkloadType.
// +kubebuilder:validation:Enum=algorithm_dqgm;qadence_circuit;algorithm_pde_basf;algorithm_pde_equality;algorithm_qel_posco
type WorkloadType string

// BackendName is where a workload runs, as the cloud API's BackendName.
// +kubebuilder:validation:Enum=pyq;pyqtorch;digital;emu_c;pulser_basic
type BackendName string

// BackendPulserBasic runs a Pulser sequence on the built-in emulator.
const BackendPulserBasic BackendName = "pulser_basic"

// WorkloadSpec is what a user asked a workload runner to do.
// +kubebuilder:validation:XValidation:rule="has(self.configFrom) == has(oldSelf.configFrom)",message="configFrom is immutable",fieldPath=".configFrom"
type WorkloadSpec struct {
	// WorkloadType is the kind of workload.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="workloadType is immutable"
	WorkloadType WorkloadType `json:"workloadType"`

	// Backend runs the workload.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="backend is immutable"
	Backend BackendName `json:"backend"`

	// Config is the workload's free-form configuration. With the pulser_basic
	// backend: {"sequence_builder": "...", "variables": {...}, "runs": N}.
	// A workload needs it or configFrom; when both are set, config wins.
	// +optional
	Config *apiextensionsv1.JSON `json:"config,omitempty"`

	// ConfigFrom names an immutable ConfigMap, owned by the workload, whose
	// key "config" holds the configuration instead: where the REST facade
	// keeps a large one, so that the Workload stays small for its status
	// writes and watchers.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="configFrom is immutable"
	// +optional
	ConfigFrom string `json:"configFrom,omitempty"`

	// UserID is the id of the user who created the workload; only they may cancel it.
	// +optional
	UserID string `json:"userID,omitempty"`

	// Canceled asks the runner to stop the workload.
	// +optional
	Canceled bool `json:"canceled,omitempty"`
}

// WorkloadPhase is the phase of a Workload. The cloud API reports it with
// the same values as a batch's status, but it is a type of its own: a
// workload has no jobs, no queue and no device.
// +kubebuilder:validation:Enum=PENDING;RUNNING;DONE;CANCELED;TIMED_OUT;ERROR;PAUSED
type WorkloadPhase string

// The workload phases.
const (
	WorkloadPending  WorkloadPhase = "PENDING"
	WorkloadRunning  WorkloadPhase = "RUNNING"
	WorkloadDone     WorkloadPhase = "DONE"
	WorkloadCanceled WorkloadPhase = "CANCELED"
	WorkloadTimedOut WorkloadPhase = "TIMED_OUT"
	WorkloadError    WorkloadPhase = "ERROR"
	WorkloadPaused   WorkloadPhase = "PAUSED"
)

// Terminal reports whether a workload in this phase will not change any more.
func (p WorkloadPhase) Terminal() bool {
	switch p {
	case WorkloadDone, WorkloadCanceled, WorkloadTimedOut, WorkloadError:
		return true
	}
	return false
}

// WorkloadStatusFields is what the workload runner observed.
type WorkloadStatusFields struct {
	// Phase is the workload's status in the cloud API.
	// +optional
	Phase WorkloadPhase `json:"phase,omitempty"`

	// Conditions describe the workload's execution.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Errors reported by the runner.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Errors []string `json:"errors,omitempty"`

	// Result is the workload's result, e.g. {"counter": {...}} for pulser_basic.
	// +optional
	Result *apiextensionsv1.JSON `json:"result,omitempty"`

	// StartTime is when the workload started running.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// EndTime is when the workload reached a terminal status.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=qwl,categories=tweezer
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.workloadType`
// +kubebuilder:printcolumn:name="Backend",type=string,JSONPath=`.spec.backend`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Workload is a higher-level task (an algorithm or a circuit) run by a workload runner.
type Workload struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   WorkloadSpec         `json:"spec"`
	Status WorkloadStatusFields `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// WorkloadList is a list of Workloads.
type WorkloadList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workload `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Workload{}, &WorkloadList{})
}
