package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeviceAvailability is the cloud API's DeviceStatus: whether a device takes work.
// +kubebuilder:validation:Enum=UP;DOWN
type DeviceAvailability string

// The device availabilities.
const (
	DeviceUp   DeviceAvailability = "UP"
	DeviceDown DeviceAvailability = "DOWN"
)

// QPUGateway is where a QPU device's driver submits sequences.
type QPUGateway struct {
	// URL of the gateway.
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url"`

	// CredentialsSecret is deprecated and ignored: runners no longer get a
	// shared gateway token. Each runner authenticates with its own
	// service-account token bound to the audience "qpu.tweezer.dev", which the
	// gateway checks with a TokenReview (runners/qpu/README.md).
	// +optional
	CredentialsSecret string `json:"credentialsSecret,omitempty"`
}

// DeviceSpec describes one device: its type, its Pulser specs and how it runs work.
type DeviceSpec struct {
	// DeviceType is the family of the device.
	DeviceType DeviceType `json:"deviceType"`

	// Availability is the cloud API's device status: DOWN starts nothing new.
	// +kubebuilder:default=UP
	// +optional
	Availability DeviceAvailability `json:"availability,omitempty"`

	// Active devices are listed and schedule work; inactive ones are kept for history.
	// +kubebuilder:default=true
	// +optional
	Active *bool `json:"active,omitempty"`

	// Public devices have their specs served without authentication.
	// +optional
	Public bool `json:"public,omitempty"`

	// Specs is the serialized Pulser device (JSON).
	// +kubebuilder:validation:MaxLength=262144
	// +optional
	Specs string `json:"specs,omitempty"`

	// IsEmulator is true for emulators, false for a QPU.
	// +optional
	IsEmulator bool `json:"isEmulator,omitempty"`

	// HasExecutionLogs is true when the device keeps execution logs.
	// +optional
	HasExecutionLogs bool `json:"hasExecutionLogs,omitempty"`

	// Legacy devices are kept for old clients: the REST device list shows
	// them only when asked to (include_legacy=true).
	// +optional
	Legacy bool `json:"legacy,omitempty"`

	// AllowedResultTypes are the result types the device can return.
	// +listType=set
	// +optional
	AllowedResultTypes []ResultsType `json:"allowedResultTypes,omitempty"`

	// DefaultResultTypes are returned when a batch asks for none.
	// +listType=set
	// +optional
	DefaultResultTypes []ResultsType `json:"defaultResultTypes,omitempty"`

	// RunnerImage is the container image of the runner pods.
	// +optional
	RunnerImage string `json:"runnerImage,omitempty"`

	// Concurrency is how many batches the device runs at once; a QPU runs one.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Concurrency int32 `json:"concurrency,omitempty"`

	// TimeLimit is the default time limit of a batch on this device.
	// +optional
	TimeLimit *metav1.Duration `json:"timeLimit,omitempty"`

	// Resources of a runner pod.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Gateway is where a QPU's driver sends sequences; unset for emulators.
	// +optional
	Gateway *QPUGateway `json:"gateway,omitempty"`
}

// DeviceStatusFields is what the scheduler observed of a Device.
type DeviceStatusFields struct {
	// Conditions: Ready is true when the device can start batches.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the spec generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// PendingBatches counts batches waiting for this device type.
	// +optional
	PendingBatches int32 `json:"pendingBatches,omitempty"`

	// PendingJobs counts the jobs of those batches.
	// +optional
	PendingJobs int32 `json:"pendingJobs,omitempty"`

	// RunningBatches counts batches running on this device.
	// +optional
	RunningBatches int32 `json:"runningBatches,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=qdev;qd,categories=tweezer
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.deviceType`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.spec.availability`
// +kubebuilder:printcolumn:name="Emulator",type=boolean,JSONPath=`.spec.isEmulator`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.runningBatches`
// +kubebuilder:printcolumn:name="Queued",type=integer,JSONPath=`.status.pendingBatches`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Device is an emulator or a QPU that batches of its device type run on.
type Device struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DeviceSpec         `json:"spec"`
	Status DeviceStatusFields `json:"status,omitempty"`
}

// IsActive reports whether the device is active (the default).
func (d *Device) IsActive() bool { return d.Spec.Active == nil || *d.Spec.Active }

// +kubebuilder:object:root=true

// DeviceList is a list of Devices.
type DeviceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Device `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Device{}, &DeviceList{})
}
