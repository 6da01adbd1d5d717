// Package v1alpha1 holds the Tweezer custom resources: Batch, Job, Device and
// Workload in the quantum.tweezer.dev group.
//
// +kubebuilder:object:generate=true
// +groupName=quantum.tweezer.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every Tweezer resource.
	GroupVersion = schema.GroupVersion{Group: "quantum.tweezer.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Tweezer types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Tweezer types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
