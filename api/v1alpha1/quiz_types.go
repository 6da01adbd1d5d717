package v1alpha1

import (
	"github.com/google/uuid"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// QuizName is the name of a user's response to a quiz: a UUID derived from
// both, so that there is at most one response per user and quiz.
func QuizName(userID, quizID string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("quiz/"+userID+"/"+quizID)).String()
}

// QuizSpec is a user's response to one quiz of the learning portal.
type QuizSpec struct {
	// UserID is the user who answered.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="userID is immutable"
	UserID string `json:"userID"`

	// QuizID is the quiz's id in the portal's content system (Strapi).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="quizID is immutable"
	QuizID string `json:"quizID"`

	// Data is the response, an object or an array, kept as given.
	Data apiextensionsv1.JSON `json:"data"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=qquiz,categories=tweezer
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.userID`
// +kubebuilder:printcolumn:name="Quiz",type=string,JSONPath=`.spec.quizID`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Quiz is a user's response to a quiz. It is plain data that nothing
// reconciles, so it has no status.
type Quiz struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec QuizSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// QuizList is a list of Quizzes.
type QuizList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Quiz `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Quiz{}, &QuizList{})
}
