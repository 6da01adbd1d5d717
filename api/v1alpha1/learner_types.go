package v1alpha1

import (
	"github.com/google/uuid"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProjectPackage is a learning package, as the cloud API's ProjectPackage.
// +kubebuilder:validation:Enum=QUANTUM_DISCOVERY;QUANTUM_DISCOVERY_CHEMISTRY;QUANTUM_DISCOVERY_LIGHT;QUANTUM_DISCOVERY_PLAY;QUANTUM_DISCOVERY_ESSENTIAL;LEARN_BY_CODING;VQPU
type ProjectPackage string

// ProjectPackages lists every ProjectPackage in the API's order.
var ProjectPackages = []ProjectPackage{
	"QUANTUM_DISCOVERY", "QUANTUM_DISCOVERY_CHEMISTRY", "QUANTUM_DISCOVERY_LIGHT",
	"QUANTUM_DISCOVERY_PLAY", "QUANTUM_DISCOVERY_ESSENTIAL", "LEARN_BY_CODING", "VQPU",
}

// LearnerName is the name of the Learner of a user for a package: a UUID
// derived from both, so that get-or-create never makes two.
func LearnerName(userID string, pkg ProjectPackage) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("learner/"+userID+"/"+string(pkg))).String()
}

// LearnerNotebook is a notebook server the learner asked for.
type LearnerNotebook struct {
	// Name of the notebook, unique per learner; it names the Pod and Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// RequestTime is when the learner last asked for this notebook. A culled
	// notebook asked for again after its cull is started anew.
	RequestTime metav1.Time `json:"requestTime"`
}

// LearnerSpec is a user's record for one learning package.
type LearnerSpec struct {
	// UserID is the user this record belongs to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="userID is immutable"
	UserID string `json:"userID"`

	// Package is the learning package.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="package is immutable"
	Package ProjectPackage `json:"package"`

	// Progress is the learner's free-form progress, kept as given.
	// +optional
	Progress *apiextensionsv1.JSON `json:"progress,omitempty"`

	// Notebooks are the notebook servers the learner asked for.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Notebooks []LearnerNotebook `json:"notebooks,omitempty"`
}

// NotebookState is what the controller observed of a notebook server.
// +kubebuilder:validation:Enum=STARTING;RUNNING;CULLED;FAILED
type NotebookState string

// The notebook states.
const (
	// NotebookStarting: the Pod exists but is not ready yet.
	NotebookStarting NotebookState = "STARTING"
	// NotebookRunning: the server is ready at its URL.
	NotebookRunning NotebookState = "RUNNING"
	// NotebookCulled: the server was idle (or exited) and was removed.
	NotebookCulled NotebookState = "CULLED"
	// NotebookFailed: the server could not be started.
	NotebookFailed NotebookState = "FAILED"
)

// NotebookStatus is the observed state of one notebook server.
type NotebookStatus struct {
	// Name of the notebook, as in the spec.
	Name string `json:"name"`

	// State of the server.
	State NotebookState `json:"state"`

	// URL the learner opens, served by the notebook's Service.
	// +optional
	URL string `json:"url,omitempty"`

	// Pod and Service that run the server (empty once culled).
	// +optional
	Pod string `json:"pod,omitempty"`
	// +optional
	Service string `json:"service,omitempty"`

	// StartTime is when the current server was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CullTime is when the server was last culled.
	// +optional
	CullTime *metav1.Time `json:"cullTime,omitempty"`

	// Message explains the state (why it was culled or failed).
	// +optional
	Message string `json:"message,omitempty"`
}

// LearnerStatus is what the notebook controller observed.
type LearnerStatus struct {
	// Conditions: NotebooksReady is true when every requested notebook runs.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the spec generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Notebooks is the state of each requested notebook server.
	// +listType=map
	// +listMapKey=name
	// +optional
	Notebooks []NotebookStatus `json:"notebooks,omitempty"`
}

// ConditionNotebooksReady is true on a Learner when every notebook it asked for runs.
const ConditionNotebooksReady = "NotebooksReady"

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=qlearner;qlr,categories=tweezer
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.userID`
// +kubebuilder:printcolumn:name="Package",type=string,JSONPath=`.spec.package`
// +kubebuilder:printcolumn:name="Notebooks",type=string,JSONPath=`.status.conditions[?(@.type=="NotebooksReady")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Learner is one user's record for one learning package: free-form progress
// and the notebook servers they run.
type Learner struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LearnerSpec   `json:"spec"`
	Status LearnerStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// LearnerList is a list of Learners.
type LearnerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Learner `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Learner{}, &LearnerList{})
}
