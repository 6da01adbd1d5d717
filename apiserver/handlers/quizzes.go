package handlers

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// Quiz is a user's response to a quiz.
type Quiz struct {
	ID        string `json:"id"`
	QuizID    string `json:"quiz_id" doc:"The quiz's id in the portal's content system (Strapi)."`
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id"`
	Data      any    `json:"data"`
	CreatedAt string `json:"created_at" format:"date-time"`
	UpdatedAt string `json:"updated_at" format:"date-time"`
}

// QuizBody is a quiz response: an object or an array.
type QuizBody struct {
	Data any `json:"data" doc:"The response: an object or an array."`
}

type createQuizIn struct {
	QuizID string `path:"strapi_quiz_id" maxLength:"256"`
	ProjectQuery
	Body QuizBody
}
type updateQuizIn struct {
	ID   string `path:"quiz_id" maxLength:"256" doc:"The id that creating the response returned."`
	Body QuizBody
}

// quizOut holds one quiz response in a list, as the reference does.
type quizOut struct{ Body envelope.Envelope[[]Quiz] }

func oneQuiz(q Quiz) *quizOut { return &quizOut{Body: envelope.OK([]Quiz{q})} }

func (h *Handlers) registerQuizzes(api huma.API) {
	huma.Register(api, h.op("create-quiz", http.MethodPost, "/api/v1/quizzes/{strapi_quiz_id}", "quizzes", "Create your response to a quiz"), h.createQuiz)
	huma.Register(api, h.op("update-quiz", http.MethodPatch, "/api/v1/quizzes/{quiz_id}", "quizzes", "Replace your response to a quiz"), h.updateQuiz)
}

func quizDoc(q *quantumv1alpha1.Quiz, projectID string) Quiz {
	return Quiz{
		ID: q.Name, QuizID: q.Spec.QuizID, UserID: q.Spec.UserID, ProjectID: projectID, Data: restdoc.RawJSON(q.Spec.Data.Raw),
		CreatedAt: restdoc.Time(q.CreationTimestamp.Time), UpdatedAt: restdoc.Time(restdoc.UpdatedAt(&q.ObjectMeta)),
	}
}

func quizData(b *QuizBody) (*quantumv1alpha1.Quiz, error) {
	switch b.Data.(type) {
	case map[string]any, []any:
	default:
		return nil, envelope.Invalid("required: an object or an array", "body", "data")
	}
	data, err := jsonOf(b.Data)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "body", "data")
	}
	return &quantumv1alpha1.Quiz{Spec: quantumv1alpha1.QuizSpec{Data: *data}}, nil
}

func (h *Handlers) createQuiz(ctx context.Context, in *createQuizIn) (*quizOut, error) {
	q, err := quizData(&in.Body)
	if err != nil {
		return nil, err
	}
	me := user(ctx).Name
	name := quantumv1alpha1.QuizName(me, in.QuizID)
	already := envelope.Errorf(http.StatusBadRequest, "you already answered quiz %s: PATCH /api/v1/quizzes/%s to change your response", in.QuizID, name)
	// One response per quiz and user, whichever project holds it.
	var existing quantumv1alpha1.QuizList
	if err := h.byName(ctx, &existing, name); err != nil {
		return nil, internal(err)
	}
	for i := range existing.Items {
		if existing.Items[i].Spec.UserID == me {
			return nil, already
		}
	}
	ns, err := h.callerProject(ctx, in.ProjectID, "create", "quizzes")
	if err != nil {
		return nil, err
	}
	q.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: name}
	q.Spec.UserID, q.Spec.QuizID = me, in.QuizID
	if err := h.fits(q, "quiz response"); err != nil {
		return nil, err
	}
	if err := h.Client.Create(ctx, q); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, already
		}
		return nil, writeErr(err, "body")
	}
	h.await(ctx, q)
	return oneQuiz(quizDoc(q, h.projectID(ctx, ns))), nil
}

func (h *Handlers) updateQuiz(ctx context.Context, in *updateQuizIn) (*quizOut, error) {
	next, err := quizData(&in.Body)
	if err != nil {
		return nil, err
	}
	// Only the caller's own response is found: others' ids look unknown.
	notFound := envelope.Errorf(http.StatusNotFound, "you have no quiz response %s: POST /api/v1/quizzes/{strapi_quiz_id} first", in.ID)
	var list quantumv1alpha1.QuizList
	if err := h.byName(ctx, &list, in.ID); err != nil {
		return nil, internal(err)
	}
	var q *quantumv1alpha1.Quiz
	for i := range list.Items {
		if list.Items[i].Spec.UserID == user(ctx).Name {
			q = list.Items[i].DeepCopy()
		}
	}
	if q == nil {
		return nil, notFound
	}
	if err := h.access(ctx, q.Namespace, "update", "quizzes", "", notFound); err != nil {
		return nil, err
	}
	err = updateWith(ctx, h, q, "quiz response", func(q *quantumv1alpha1.Quiz) error {
		q.Spec.Data = next.Spec.Data
		return nil
	})
	if apierrors.IsNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, writeErr(err, "body")
	}
	return oneQuiz(quizDoc(q, h.projectID(ctx, q.Namespace))), nil
}
