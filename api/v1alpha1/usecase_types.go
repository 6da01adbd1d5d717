package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ValidationStatus is where a use case is in its review workflow, as the
// cloud API's ValidationStatus. The legal moves are in controllers/usecase.
// +kubebuilder:validation:Enum=DRAFT;UNDER_REVIEW;REVIEWER_DRAFT;REQUIRING_UPDATE;UPDATED;REJECTED;APPROVED
type ValidationStatus string

// The validation statuses.
const (
	ValidationDraft           ValidationStatus = "DRAFT"
	ValidationUnderReview     ValidationStatus = "UNDER_REVIEW"
	ValidationReviewerDraft   ValidationStatus = "REVIEWER_DRAFT"
	ValidationRequiringUpdate ValidationStatus = "REQUIRING_UPDATE"
	ValidationUpdated         ValidationStatus = "UPDATED"
	ValidationRejected        ValidationStatus = "REJECTED"
	ValidationApproved        ValidationStatus = "APPROVED"
)

// ValidationStatuses lists every ValidationStatus in the API's order.
var ValidationStatuses = []ValidationStatus{
	ValidationDraft, ValidationUnderReview, ValidationReviewerDraft, ValidationRequiringUpdate,
	ValidationUpdated, ValidationRejected, ValidationApproved,
}

// UseCaseSpec is a use case written by a project member and reviewed by the
// platform team.
type UseCaseSpec struct {
	// UserID is the author; only they edit it (superusers review it).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="userID is immutable"
	UserID string `json:"userID"`

	// UserName is the author's display name.
	// +optional
	UserName string `json:"userName,omitempty"`

	// Title of the use case.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Title string `json:"title"`

	// Summary of the use case.
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	Summary string `json:"summary,omitempty"`

	// QuestionnaireID is the id of the questionnaire the answers follow.
	// +optional
	QuestionnaireID *int64 `json:"questionnaireID,omitempty"`

	// Answers are the author's answers to the questionnaire, kept as given.
	// +optional
	Answers *apiextensionsv1.JSON `json:"answers,omitempty"`

	// ValidationStatus is the step of the review workflow. Only the workflow's
	// moves are accepted: DRAFT → UNDER_REVIEW; UNDER_REVIEW or UPDATED →
	// REVIEWER_DRAFT, REQUIRING_UPDATE, APPROVED or REJECTED; REVIEWER_DRAFT →
	// REQUIRING_UPDATE, APPROVED or REJECTED; REQUIRING_UPDATE → UPDATED.
	// +kubebuilder:default=DRAFT
	// +kubebuilder:validation:XValidation:rule="self == oldSelf || (oldSelf == 'DRAFT' && self == 'UNDER_REVIEW') || (oldSelf in ['UNDER_REVIEW', 'UPDATED'] && self in ['REVIEWER_DRAFT', 'REQUIRING_UPDATE', 'APPROVED', 'REJECTED']) || (oldSelf == 'REVIEWER_DRAFT' && self in ['REQUIRING_UPDATE', 'APPROVED', 'REJECTED']) || (oldSelf == 'REQUIRING_UPDATE' && self == 'UPDATED')",message="illegal validation status transition"
	// +optional
	ValidationStatus ValidationStatus `json:"validationStatus,omitempty"`

	// Review holds the reviewer's answers, keyed by question.
	// +optional
	Review *apiextensionsv1.JSON `json:"review,omitempty"`

	// Example marks a use case shipped with the platform as an example.
	// +optional
	Example bool `json:"example,omitempty"`
}

// UseCaseStatus records the reviews.
type UseCaseStatus struct {
	// LastReviewedAt is when a reviewer last answered.
	// +optional
	LastReviewedAt *metav1.Time `json:"lastReviewedAt,omitempty"`

	// LastReviewedBy is the reviewer who last answered.
	// +optional
	LastReviewedBy string `json:"lastReviewedBy,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=qusecase;quc,categories=tweezer
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.spec.title`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.spec.validationStatus`
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.userID`
// +kubebuilder:printcolumn:name="Example",type=boolean,JSONPath=`.spec.example`,priority=1
// +kubebuilder:printcolumn:name="Reviewed",type=date,JSONPath=`.status.lastReviewedAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// UseCase is an application of the platform described by a project member,
// moved through a review workflow by the platform team.
type UseCase struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   UseCaseSpec   `json:"spec"`
	Status UseCaseStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// UseCaseList is a list of UseCases.
type UseCaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UseCase `json:"items"`
}

func init() {
	SchemeBuilder.Register(&UseCase{}, &UseCaseList{})
}
