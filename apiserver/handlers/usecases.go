package handlers

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/apiserver/usecase"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

const validationStatuses = "DRAFT,UNDER_REVIEW,REVIEWER_DRAFT,REQUIRING_UPDATE,UPDATED,REJECTED,APPROVED"

// UseCase is a use case of the REST API.
type UseCase struct {
	ID               string  `json:"id"`
	UserID           string  `json:"user_id"`
	UserName         string  `json:"user_name" doc:"The author's display name (from their token's user info when it has one, else their user id)."`
	ProjectID        string  `json:"project_id"`
	ProjectName      string  `json:"project_name"`
	Title            string  `json:"title"`
	ValidationStatus string  `json:"validation_status" enum:"DRAFT,UNDER_REVIEW,REVIEWER_DRAFT,REQUIRING_UPDATE,UPDATED,REJECTED,APPROVED"`
	Summary          string  `json:"summary"`
	QuestionnaireID  *int64  `json:"questionnaire_id"`
	LastReviewedAt   *string `json:"last_reviewed_at" format:"date-time"`
	CreatedAt        string  `json:"created_at" format:"date-time"`
	UpdatedAt        string  `json:"updated_at" format:"date-time"`
}

// UseCaseWithAnswers is one use case with the author's and the reviewer's answers.
type UseCaseWithAnswers struct {
	UseCase
	Answers any `json:"answers"`
	Review  any `json:"review"`
}

// UseCaseBody creates a use case.
type UseCaseBody struct {
	Title            string         `json:"title" minLength:"1" maxLength:"512"`
	ValidationStatus string         `json:"validation_status" enum:"DRAFT,UNDER_REVIEW,REVIEWER_DRAFT,REQUIRING_UPDATE,UPDATED,REJECTED,APPROVED"`
	ProjectID        string         `json:"project_id,omitempty" doc:"By default your first project (the oldest where you may create use cases)."`
	Summary          string         `json:"summary,omitempty" maxLength:"65536"`
	QuestionnaireID  *int64         `json:"questionnaire_id,omitempty"`
	Answers          map[string]any `json:"answers,omitempty"`
}

// UseCaseUpdate changes some fields of a use case.
type UseCaseUpdate struct {
	Title            *string        `json:"title,omitempty" minLength:"1" maxLength:"512"`
	ValidationStatus *string        `json:"validation_status,omitempty" enum:"DRAFT,UNDER_REVIEW,REVIEWER_DRAFT,REQUIRING_UPDATE,UPDATED,REJECTED,APPROVED"`
	Summary          *string        `json:"summary,omitempty" maxLength:"65536"`
	QuestionnaireID  *int64         `json:"questionnaire_id,omitempty"`
	Answers          map[string]any `json:"answers,omitempty"`
}

// UseCaseIDPath is the use case of a route.
type UseCaseIDPath struct {
	UseCaseID string `path:"use_case_id"`
}

// useCaseOut holds one use case in a list, as the reference does.
type useCaseOut struct {
	Body envelope.Envelope[[]UseCaseWithAnswers]
}

func oneUseCase(u UseCaseWithAnswers) *useCaseOut {
	return &useCaseOut{Body: envelope.OK([]UseCaseWithAnswers{u})}
}

type useCasePage struct{ Body envelope.Page[UseCase] }
type useCaseListIn struct {
	ProjectIDPath
	PageParams
	Status []string `query:"status,explode" doc:"Validation statuses."`
	Search string   `query:"search" doc:"Words that must all appear in the title or summary (case-insensitive)."`
}
type examplesIn struct {
	PageParams
	Search string `query:"search"`
}
type createUseCaseIn struct{ Body UseCaseBody }
type updateUseCaseIn struct {
	UseCaseIDPath
	Body UseCaseUpdate
}
type reviewIn struct {
	UseCaseIDPath
	Body map[string]any `doc:"The reviewer's answers: {\"<question>\": \"text\" or {...}}."`
}

func (h *Handlers) registerUseCases(api huma.API) {
	huma.Register(api, h.op("create-use-case", http.MethodPost, "/api/v1/use-cases", "use-cases", "Create a use case"), h.createUseCase)
	huma.Register(api, h.op("use-case-examples", http.MethodGet, "/api/v1/use-cases/examples", "use-cases", "Example use cases shipped with the platform"), h.useCaseExamples)
	huma.Register(api, h.op("get-use-case", http.MethodGet, "/api/v1/use-cases/{use_case_id}", "use-cases", "Get a use case with its answers"), h.getUseCase)
	huma.Register(api, h.op("update-use-case", http.MethodPatch, "/api/v1/use-cases/{use_case_id}", "use-cases", "Change a use case (its author; a reviewer moves its validation status)"), h.updateUseCase)
	huma.Register(api, h.op("review-use-case", http.MethodPost, "/api/v1/use-cases/{use_case_id}/review", "use-cases", "Record a reviewer's answers (superuser)"), h.reviewUseCase)
	huma.Register(api, h.op("my-use-cases", http.MethodGet, "/api/v1/projects/{project_id}/use-cases/mine", "use-cases", "Your use cases in a project"), h.myUseCases)
	huma.Register(api, h.op("team-use-cases", http.MethodGet, "/api/v1/projects/{project_id}/use-cases/team", "use-cases", "Other members' approved use cases in a project"), h.teamUseCases)
}

func (h *Handlers) useCaseDoc(ctx context.Context, u *quantumv1alpha1.UseCase) UseCase {
	pid := h.projectID(ctx, u.Namespace)
	name := pid
	if ns, err := h.projectByID(ctx, pid); err == nil && ns != nil && ns.Annotations[ProjectNameAnnotation] != "" {
		name = ns.Annotations[ProjectNameAnnotation]
	}
	d := UseCase{
		ID: u.Name, UserID: u.Spec.UserID, UserName: u.Spec.UserName, ProjectID: pid, ProjectName: name,
		Title: u.Spec.Title, ValidationStatus: string(u.Spec.ValidationStatus), Summary: u.Spec.Summary,
		LastReviewedAt: timeOrNil(u.Status.LastReviewedAt),
		CreatedAt:      restdoc.Time(u.CreationTimestamp.Time), UpdatedAt: restdoc.Time(restdoc.UpdatedAt(&u.ObjectMeta)),
	}
	if d.ValidationStatus == "" {
		d.ValidationStatus = string(quantumv1alpha1.ValidationDraft)
	}
	if u.Spec.QuestionnaireID != nil {
		q := *u.Spec.QuestionnaireID
		d.QuestionnaireID = &q
	}
	return d
}

func (h *Handlers) useCaseFull(ctx context.Context, u *quantumv1alpha1.UseCase) UseCaseWithAnswers {
	out := UseCaseWithAnswers{UseCase: h.useCaseDoc(ctx, u)}
	if u.Spec.Answers != nil {
		out.Answers = restdoc.RawJSON(u.Spec.Answers.Raw)
	}
	if u.Spec.Review != nil {
		out.Review = restdoc.RawJSON(u.Spec.Review.Raw)
	}
	return out
}

// useCaseFor finds a use case the caller may see: their own, an example, an
// APPROVED one of their project, or any for a superuser (the oldest when the
// id names several, see lookup.go). Others are 404.
func (h *Handlers) useCaseFor(ctx context.Context, id string) (*quantumv1alpha1.UseCase, bool, error) {
	var list quantumv1alpha1.UseCaseList
	if err := h.byName(ctx, &list, id); err != nil {
		return nil, false, internal(err)
	}
	super, err := h.isSuperuser(ctx, "get", "usecases", "")
	if err != nil {
		return nil, false, err
	}
	candidates := ptrs(list.Items)
	oldestFirst(candidates)
	for _, u := range candidates {
		if super || u.Spec.Example {
			return u, super, nil
		}
		ok, err := h.allowed(ctx, u.Namespace, "get", "usecases", "")
		if err != nil {
			return nil, false, internal(err)
		}
		if ok && (u.Spec.UserID == user(ctx).Name || u.Spec.ValidationStatus == quantumv1alpha1.ValidationApproved) {
			return u, false, nil
		}
	}
	return nil, false, envelope.NotFound("use case", id)
}

func (h *Handlers) createUseCase(ctx context.Context, in *createUseCaseIn) (*useCaseOut, error) {
	ns, err := h.callerProject(ctx, in.Body.ProjectID, "create", "usecases")
	if err != nil {
		return nil, err
	}
	st := quantumv1alpha1.ValidationStatus(in.Body.ValidationStatus)
	if !slices.Contains(usecase.Initial, st) {
		return nil, envelope.Invalid("a new use case starts in DRAFT or UNDER_REVIEW, not "+string(st), "body", "validation_status")
	}
	answers, err := jsonOf(in.Body.Answers)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "body", "answers")
	}
	u := &quantumv1alpha1.UseCase{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: uuid.NewString()},
		Spec: quantumv1alpha1.UseCaseSpec{
			UserID: user(ctx).Name, UserName: user(ctx).DisplayName(), Title: in.Body.Title, Summary: in.Body.Summary,
			QuestionnaireID: in.Body.QuestionnaireID, Answers: answers, ValidationStatus: st,
		},
	}
	if err := h.fits(u, "use case"); err != nil {
		return nil, err
	}
	if err := h.Client.Create(ctx, u); err != nil {
		return nil, writeErr(err, "body")
	}
	h.await(ctx, u)
	return oneUseCase(h.useCaseFull(ctx, u)), nil
}

func (h *Handlers) getUseCase(ctx context.Context, in *UseCaseIDPath) (*useCaseOut, error) {
	u, _, err := h.useCaseFor(ctx, in.UseCaseID)
	if err != nil {
		return nil, err
	}
	return oneUseCase(h.useCaseFull(ctx, u)), nil
}

// updateUseCaseWith re-reads the use case and applies change, retrying on conflicts.
func (h *Handlers) updateUseCaseWith(ctx context.Context, cached *quantumv1alpha1.UseCase, change func(*quantumv1alpha1.UseCase) error) (*quantumv1alpha1.UseCase, error) {
	u := cached.DeepCopy()
	if err := updateWith(ctx, h, u, "use case", change); err != nil {
		return nil, writeErr(err, "body")
	}
	return u, nil
}

func (h *Handlers) updateUseCase(ctx context.Context, in *updateUseCaseIn) (*useCaseOut, error) {
	cached, super, err := h.useCaseFor(ctx, in.UseCaseID)
	if err != nil {
		return nil, err
	}
	author := cached.Spec.UserID == user(ctx).Name
	if !author && !super {
		return nil, envelope.Errorf(http.StatusForbidden, "only the author of use case %s or a reviewer may change it", cached.Name)
	}
	if !super {
		if err := h.access(ctx, cached.Namespace, "update", "usecases", "", envelope.NotFound("use case", cached.Name)); err != nil {
			return nil, err
		}
	}
	answers, err := jsonOf(in.Body.Answers)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "body", "answers")
	}
	actor := usecase.Author
	if super {
		actor = usecase.Reviewer
	}
	u, err := h.updateUseCaseWith(ctx, cached, func(u *quantumv1alpha1.UseCase) error {
		if s := in.Body.ValidationStatus; s != nil {
			to := quantumv1alpha1.ValidationStatus(*s)
			from := u.Spec.ValidationStatus
			if from == "" {
				from = quantumv1alpha1.ValidationDraft
			}
			var illegal *usecase.IllegalError
			switch err := usecase.Check(from, to, actor); {
			case errors.As(err, &illegal):
				return envelope.Invalid(err.Error(), "body", "validation_status")
			case err != nil:
				return envelope.New(http.StatusForbidden, err.Error())
			}
			u.Spec.ValidationStatus = to
		}
		if in.Body.Title != nil {
			u.Spec.Title = *in.Body.Title
		}
		if in.Body.Summary != nil {
			u.Spec.Summary = *in.Body.Summary
		}
		if in.Body.QuestionnaireID != nil {
			u.Spec.QuestionnaireID = in.Body.QuestionnaireID
		}
		if answers != nil {
			u.Spec.Answers = answers
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return oneUseCase(h.useCaseFull(ctx, u)), nil
}

func (h *Handlers) reviewUseCase(ctx context.Context, in *reviewIn) (*useCaseOut, error) {
	super, err := h.isSuperuser(ctx, "update", "usecases", "status")
	if err != nil {
		return nil, err
	}
	if !super {
		return nil, envelope.Errorf(http.StatusForbidden, "%s is not a reviewer (may not update use cases' status in every project)", user(ctx).Name)
	}
	cached, _, err := h.useCaseFor(ctx, in.UseCaseID)
	if err != nil {
		return nil, err
	}
	if len(in.Body) == 0 {
		return nil, envelope.Invalid("required: at least one answer", "body")
	}
	review, err := jsonOf(in.Body)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "body")
	}
	u, err := h.updateUseCaseWith(ctx, cached, func(u *quantumv1alpha1.UseCase) error {
		u.Spec.Review = review
		return nil
	})
	if err != nil {
		return nil, err
	}
	now := metav1.Now()
	// Checked against the resourceVersion, as every status write: a
	// conflict reads the use case again and records the review on it.
	if err := h.checkedStatusPatch(ctx, u, func() error {
		u.Status.LastReviewedAt, u.Status.LastReviewedBy = &now, user(ctx).Name
		return nil
	}); err != nil {
		return nil, writeErr(err)
	}
	h.await(ctx, u)
	return oneUseCase(h.useCaseFull(ctx, u)), nil
}

// projectUseCases lists the use cases of a project the caller may list, filtered by keep.
func (h *Handlers) projectUseCases(ctx context.Context, in *useCaseListIn, keep func(*quantumv1alpha1.UseCase) bool) (*useCasePage, error) {
	for _, s := range in.Status {
		if !slices.Contains(quantumv1alpha1.ValidationStatuses, quantumv1alpha1.ValidationStatus(s)) {
			return nil, envelope.Invalid("must be one of "+validationStatuses+", not "+s, "query", "status")
		}
	}
	var list quantumv1alpha1.UseCaseList
	if err := h.listInProject(ctx, in.ProjectID, "usecases", &list); err != nil {
		return nil, err
	}
	var items []UseCase
	for i := range list.Items {
		u := &list.Items[i]
		doc := h.useCaseDoc(ctx, u)
		if !keep(u) || (len(in.Status) > 0 && !slices.Contains(in.Status, doc.ValidationStatus)) || !matches(in.Search, u.Spec.Title, u.Spec.Summary) {
			continue
		}
		items = append(items, doc)
	}
	if err := sortPage(items, &in.PageParams, func(u UseCase) string { return u.CreatedAt }, func(u UseCase) string { return u.ID }); err != nil {
		return nil, err
	}
	return &useCasePage{Body: envelope.NewPage(window(items, in.Offset, in.Limit), in.Offset, len(items))}, nil
}

func (h *Handlers) myUseCases(ctx context.Context, in *useCaseListIn) (*useCasePage, error) {
	me := user(ctx).Name
	return h.projectUseCases(ctx, in, func(u *quantumv1alpha1.UseCase) bool { return u.Spec.UserID == me })
}

func (h *Handlers) teamUseCases(ctx context.Context, in *useCaseListIn) (*useCasePage, error) {
	super, err := h.isSuperuser(ctx, "list", "usecases", "")
	if err != nil {
		return nil, err
	}
	if !super && slices.ContainsFunc(in.Status, func(s string) bool { return s != string(quantumv1alpha1.ValidationApproved) }) {
		return nil, envelope.Errorf(http.StatusForbidden, "only a superuser sees the team's use cases that are not APPROVED")
	}
	me := user(ctx).Name
	return h.projectUseCases(ctx, in, func(u *quantumv1alpha1.UseCase) bool {
		return u.Spec.UserID != me && (super || u.Spec.ValidationStatus == quantumv1alpha1.ValidationApproved)
	})
}

func (h *Handlers) useCaseExamples(ctx context.Context, in *examplesIn) (*useCasePage, error) {
	var list quantumv1alpha1.UseCaseList
	if err := h.Cache.List(ctx, &list); err != nil {
		return nil, internal(err)
	}
	var items []UseCase
	for i := range list.Items {
		u := &list.Items[i]
		if u.Spec.Example && matches(in.Search, u.Spec.Title, u.Spec.Summary) {
			items = append(items, h.useCaseDoc(ctx, u))
		}
	}
	if err := sortPage(items, &in.PageParams, func(u UseCase) string { return u.CreatedAt }, func(u UseCase) string { return u.ID }); err != nil {
		return nil, err
	}
	return &useCasePage{Body: envelope.NewPage(window(items, in.Offset, in.Limit), in.Offset, len(items))}, nil
}
