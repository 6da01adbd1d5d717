package handlers

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/internal/nbserver"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// Learner is a user's record for a learning package.
type Learner struct {
	ID        string     `json:"id"`
	UserID    string     `json:"user_id"`
	ProjectID string     `json:"project_id"`
	Package   string     `json:"package" enum:"QUANTUM_DISCOVERY,QUANTUM_DISCOVERY_CHEMISTRY,QUANTUM_DISCOVERY_LIGHT,QUANTUM_DISCOVERY_PLAY,QUANTUM_DISCOVERY_ESSENTIAL,LEARN_BY_CODING,VQPU"`
	Progress  any        `json:"progress"`
	Notebooks []Notebook `json:"notebooks"`
	CreatedAt string     `json:"created_at" format:"date-time"`
	UpdatedAt string     `json:"updated_at" format:"date-time"`
}

// Notebook is a learner's notebook server.
type Notebook struct {
	Name    string  `json:"name"`
	State   string  `json:"state" enum:"STARTING,RUNNING,CULLED,FAILED"`
	URL     *string `json:"url" doc:"Where the server is (with its token when returned to its learner); null when it does not run."`
	Message string  `json:"message,omitempty"`
}

// ProgressBody replaces a learner's progress.
type ProgressBody struct {
	Progress map[string]any `json:"progress"`
}

type learnerIn struct {
	PackagePath
	ProjectQuery
}

// learnerOut holds one learner in a list, as the reference does.
type learnerOut struct{ Body envelope.Envelope[[]Learner] }

func oneLearner(l Learner) *learnerOut { return &learnerOut{Body: envelope.OK([]Learner{l})} }

type learnerPage struct{ Body envelope.Page[Learner] }
type progressIn struct {
	PackagePath
	ProjectQuery
	Body ProgressBody
}
type notebookIn struct {
	PackagePath
	Notebook string `path:"notebook" pattern:"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" maxLength:"40" doc:"Notebook name (lower-case letters, digits, dashes)."`
	ProjectQuery
}
type notebookOut struct{ Body envelope.Envelope[Notebook] }

// ProjectIDPath is the project of a route.
type ProjectIDPath struct {
	ProjectID string `path:"project_id"`
}
type projectLearnersIn struct {
	ProjectIDPath
	PageParams
}

func (h *Handlers) registerLearners(api huma.API) {
	huma.Register(api, h.op("get-learner", http.MethodGet, "/api/v1/learners/{package}", "learners", "Get (or create) your learner record for a package"), h.getLearner)
	huma.Register(api, h.op("update-learner", http.MethodPatch, "/api/v1/learners/{package}", "learners", "Replace your progress in a package"), h.updateLearner)
	huma.Register(api, h.op("spawn-notebook", http.MethodPost, "/api/v1/learners/{package}/notebooks/{notebook}", "learners", "Start (or return the running) notebook server of yours"), h.spawnNotebook)
	huma.Register(api, h.op("project-learners", http.MethodGet, "/api/v1/projects/{project_id}/learners", "learners", "The learners of a project"), h.projectLearners)
}

// Waiting is the message of a notebook asked for that the notebook
// controller has not picked up yet.
const Waiting = "asked for; waiting for the notebook controller to start it"

// notebookView is what the learner's record says of one notebook, the same in
// the spawn answer and in the learner: its status, unless the controller has
// not yet seen a request made since that status (a new notebook, or one asked
// for again after its cull or failure), which is STARTING.
func notebookView(l *quantumv1alpha1.Learner, name string) Notebook {
	var req *metav1.Time
	for i := range l.Spec.Notebooks {
		if l.Spec.Notebooks[i].Name == name {
			req = &l.Spec.Notebooks[i].RequestTime
		}
	}
	var st *quantumv1alpha1.NotebookStatus
	for i := range l.Status.Notebooks {
		if l.Status.Notebooks[i].Name == name {
			st = &l.Status.Notebooks[i]
		}
	}
	seen := l.Status.ObservedGeneration >= l.Generation
	if st == nil || (!seen && req != nil && st.CullTime != nil && req.After(st.CullTime.Time)) {
		return Notebook{Name: name, State: string(quantumv1alpha1.NotebookStarting), Message: Waiting}
	}
	return notebookDoc(*st)
}

func notebookDoc(st quantumv1alpha1.NotebookStatus) Notebook {
	n := Notebook{Name: st.Name, State: string(st.State), Message: st.Message}
	if st.URL != "" && (st.State == quantumv1alpha1.NotebookRunning || st.State == quantumv1alpha1.NotebookStarting) {
		u := st.URL
		n.URL = &u
	}
	return n
}

func learnerDoc(l *quantumv1alpha1.Learner, projectID string) Learner {
	d := Learner{
		ID: l.Name, UserID: l.Spec.UserID, ProjectID: projectID, Package: string(l.Spec.Package),
		Notebooks: []Notebook{},
		CreatedAt: restdoc.Time(l.CreationTimestamp.Time), UpdatedAt: restdoc.Time(restdoc.UpdatedAt(&l.ObjectMeta)),
	}
	d.Progress = map[string]any{} // no progress yet: an empty object, as the reference's progress is one
	if l.Spec.Progress != nil {
		d.Progress = restdoc.RawJSON(l.Spec.Progress.Raw)
	}
	listed := map[string]bool{}
	for _, st := range l.Status.Notebooks {
		listed[st.Name] = true
		d.Notebooks = append(d.Notebooks, notebookView(l, st.Name))
	}
	for _, nb := range l.Spec.Notebooks {
		if !listed[nb.Name] {
			d.Notebooks = append(d.Notebooks, notebookView(l, nb.Name))
		}
	}
	return d
}

// ownLearner gets or creates the caller's learner for a package in the resolved project.
func (h *Handlers) ownLearner(ctx context.Context, projectID, pkg string) (*quantumv1alpha1.Learner, error) {
	uid := user(ctx).Name
	name := quantumv1alpha1.LearnerName(uid, quantumv1alpha1.ProjectPackage(pkg))
	ns := ""
	if projectID == "" {
		var err error
		ns, err = h.existingIn(ctx, &quantumv1alpha1.LearnerList{}, name, "create", "learners",
			func(o client.Object) string { return o.(*quantumv1alpha1.Learner).Spec.UserID })
		if err != nil {
			return nil, err
		}
	}
	if ns == "" {
		var err error
		if ns, err = h.callerProject(ctx, projectID, "create", "learners"); err != nil {
			return nil, err
		}
	}
	l := &quantumv1alpha1.Learner{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       quantumv1alpha1.LearnerSpec{UserID: uid, Package: quantumv1alpha1.ProjectPackage(pkg)},
	}
	if err := h.getOrCreate(ctx, l); err != nil {
		return nil, err
	}
	return l, nil
}

func (h *Handlers) getLearner(ctx context.Context, in *learnerIn) (*learnerOut, error) {
	l, err := h.ownLearner(ctx, in.ProjectID, in.Package)
	if err != nil {
		return nil, err
	}
	return oneLearner(learnerDoc(l, h.projectID(ctx, l.Namespace))), nil
}

// updateOwnLearner applies change to the caller's learner, with retries on conflicts.
func (h *Handlers) updateOwnLearner(ctx context.Context, projectID, pkg string, change func(*quantumv1alpha1.Learner) error) (*quantumv1alpha1.Learner, error) {
	l, err := h.ownLearner(ctx, projectID, pkg)
	if err != nil {
		return nil, err
	}
	if err := updateWith(ctx, h, l, "learner", change); err != nil {
		return nil, writeErr(err, "body")
	}
	return l, nil
}

func (h *Handlers) updateLearner(ctx context.Context, in *progressIn) (*learnerOut, error) {
	if in.Body.Progress == nil {
		return nil, envelope.Invalid("required: an object", "body", "progress")
	}
	progress, err := jsonOf(in.Body.Progress)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "body", "progress")
	}
	l, err := h.updateOwnLearner(ctx, in.ProjectID, in.Package, func(l *quantumv1alpha1.Learner) error {
		l.Spec.Progress = progress
		return nil
	})
	if err != nil {
		return nil, err
	}
	return oneLearner(learnerDoc(l, h.projectID(ctx, l.Namespace))), nil
}

// maxNotebooks is how many notebooks a learner may ask for (the CRD's limit).
const maxNotebooks = 16

func (h *Handlers) spawnNotebook(ctx context.Context, in *notebookIn) (*notebookOut, error) {
	now := metav1.NewTime(time.Now())
	l, err := h.updateOwnLearner(ctx, in.ProjectID, in.Package, func(l *quantumv1alpha1.Learner) error {
		for i := range l.Spec.Notebooks {
			if l.Spec.Notebooks[i].Name == in.Notebook {
				l.Spec.Notebooks[i].RequestTime = requestAfterCull(l, in.Notebook, now)
				return nil
			}
		}
		if len(l.Spec.Notebooks) >= maxNotebooks {
			return envelope.Errorf(http.StatusConflict, "you already have %d notebooks in %s, the most a learner may have", maxNotebooks, in.Package)
		}
		l.Spec.Notebooks = append(l.Spec.Notebooks, quantumv1alpha1.LearnerNotebook{Name: in.Notebook, RequestTime: now})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// One answer: wait (a little) for the controller to act on the request,
	// and say what the learner's record then says.
	if err := h.awaitNotebooks(ctx, l); err != nil {
		return nil, err
	}
	doc := notebookView(l, in.Notebook)
	if doc.URL != nil {
		link, err := h.withToken(ctx, l, in.Notebook, *doc.URL)
		if err != nil {
			return nil, err
		}
		doc.URL = &link
	}
	return &notebookOut{Body: envelope.OK(doc)}, nil
}

// awaitNotebooks re-reads the learner until the notebook controller has
// observed its generation, for at most Limits.NotebookWait.
func (h *Handlers) awaitNotebooks(ctx context.Context, l *quantumv1alpha1.Learner) error {
	deadline := time.Now().Add(h.Limits.NotebookWait)
	for l.Status.ObservedGeneration < l.Generation && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
		if err := h.Client.Get(ctx, client.ObjectKeyFromObject(l), l); err != nil {
			return internal(err)
		}
	}
	return nil
}

// requestAfterCull is the request time of a notebook asked for at now: a
// request must come after the notebook's last cull or failure to start it
// again, and both times are stored to the second, so a request in the same
// second as the cull is recorded one second after it.
func requestAfterCull(l *quantumv1alpha1.Learner, notebook string, now metav1.Time) metav1.Time {
	for _, st := range l.Status.Notebooks {
		if st.Name == notebook && st.CullTime != nil && !now.Truncate(time.Second).After(st.CullTime.Time) {
			return metav1.NewTime(st.CullTime.Truncate(time.Second).Add(time.Second))
		}
	}
	return now
}

// withToken appends the server's token to its URL, for its learner only.
// Without the token Secret (the server is being started) the URL is bare.
// The facade may read this Secret through the Role the notebook controller
// made for it, and no other Secret.
func (h *Handlers) withToken(ctx context.Context, l *quantumv1alpha1.Learner, notebook, u string) (string, error) {
	sec := &corev1.Secret{}
	err := h.Client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: nbserver.ServerName(l.Name, notebook)}, sec)
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) { // Forbidden: its Role is not there yet
		return u, nil
	}
	if err != nil {
		return "", internal(err)
	}
	return u + "?token=" + url.QueryEscape(string(sec.Data[nbserver.TokenKey])), nil
}

func (h *Handlers) projectLearners(ctx context.Context, in *projectLearnersIn) (*learnerPage, error) {
	var list quantumv1alpha1.LearnerList
	if err := h.listInProject(ctx, in.ProjectID, "learners", &list); err != nil {
		return nil, err
	}
	items := make([]Learner, 0, len(list.Items))
	for i := range list.Items {
		items = append(items, learnerDoc(&list.Items[i], in.ProjectID))
	}
	if err := sortPage(items, &in.PageParams, func(l Learner) string { return l.CreatedAt }, func(l Learner) string { return l.ID }); err != nil {
		return nil, err
	}
	return &learnerPage{Body: envelope.NewPage(window(items, in.Offset, in.Limit), in.Offset, len(items))}, nil
}
