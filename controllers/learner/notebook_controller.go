// Package learner holds the notebook reconciler of Learners: each notebook a
// learner asks for runs as a Jupyter server in a Pod, reachable through a
// Service, with a per-server token in a ConfigMap (not a Secret: the facade,
// which hands the token to its learner, may read no Secrets; project members
// may read no ConfigMaps). A server that is idle culls
// itself (Jupyter's own idle shutdown, which knows real activity); the
// reconciler then records CULLED and removes its Pod, Service and ConfigMap. A
// server that never became ready within the idle timeout of its request is
// culled by the reconciler. Asking for a culled notebook again starts a new one.
// In local mode (Reconciler.Local, no kubelet) servers are `jupyter notebook`
// processes instead, and a machine without jupyter gets FAILED saying so.
package learner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/nbserver"
)

// Settings configure the notebook servers.
type Settings struct {
	// Image runs `jupyter notebook` (any Jupyter Docker Stacks image does).
	Image string
	// Resources of the notebook container.
	Resources corev1.ResourceRequirements
	// IdleTimeout: a server without activity for this long shuts down and is culled.
	IdleTimeout time.Duration
	// PublicURL, when set, is the base of the URLs handed to learners (an
	// ingress routing /notebooks/<namespace>/<server>/ to the server's
	// Service); else the URL is the Service's in-cluster address.
	PublicURL string
}

// DefaultSettings are used for every field left empty.
func DefaultSettings() Settings {
	return Settings{
		Image: "quay.io/jupyter/base-notebook:latest",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		IdleTimeout: time.Hour,
	}
}

func (s *Settings) defaults() {
	d := DefaultSettings()
	if s.Image == "" {
		s.Image = d.Image
	}
	if s.Resources.Requests == nil && s.Resources.Limits == nil {
		s.Resources = d.Resources
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = d.IdleTimeout
	}
}

// Port is where Jupyter listens in the Pod and on the Service.
const Port = 8888

// Reconciler runs the notebook servers of Learners.
type Reconciler struct {
	Client client.Client
	// APIReader confirms, before a server is started, that the cache was not stale.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Settings  Settings
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Local, when set, runs servers as local jupyter processes instead of Pods.
	Local *Local
}

// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=learners,verbs=get;list;watch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=learners/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=pods;services,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Settings.defaults()
	if r.Now == nil {
		r.Now = time.Now
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&quantumv1alpha1.Learner{}).
		Owns(&corev1.Pod{}).
		Owns(&corev1.Service{}).
		Named("learner-notebooks")
	if r.Local != nil {
		b = b.WatchesRawSource(source.Channel(r.Local.events, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

// Reconcile brings each requested notebook to its state and records it.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	l := &quantumv1alpha1.Learner{}
	if err := r.Client.Get(ctx, req.NamespacedName, l); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if l.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	old := l.Status.DeepCopy()
	var statuses []quantumv1alpha1.NotebookStatus
	var requeue time.Duration
	wanted := map[string]bool{}
	for _, nb := range l.Spec.Notebooks {
		wanted[nb.Name] = true
		st, after, err := r.notebook(ctx, l, nb, findStatus(l.Status.Notebooks, nb.Name))
		if err != nil {
			return ctrl.Result{}, err
		}
		statuses = append(statuses, st)
		if after > 0 && (requeue == 0 || after < requeue) {
			requeue = after
		}
	}
	for _, st := range l.Status.Notebooks {
		if !wanted[st.Name] {
			if err := r.remove(ctx, l.Namespace, nbserver.ServerName(l.Name, st.Name)); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	l.Status.Notebooks = statuses
	l.Status.ObservedGeneration = l.Generation
	meta.SetStatusCondition(&l.Status.Conditions, readyCondition(statuses, l.Generation))
	if !equality.Semantic.DeepEqual(old, &l.Status) {
		if err := r.Client.Status().Update(ctx, l); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

func findStatus(list []quantumv1alpha1.NotebookStatus, name string) *quantumv1alpha1.NotebookStatus {
	for i := range list {
		if list[i].Name == name {
			return list[i].DeepCopy()
		}
	}
	return nil
}

// notebook reconciles one server; after is when to look again (idle deadline of a starting server).
func (r *Reconciler) notebook(ctx context.Context, l *quantumv1alpha1.Learner, nb quantumv1alpha1.LearnerNotebook, prev *quantumv1alpha1.NotebookStatus) (quantumv1alpha1.NotebookStatus, time.Duration, error) {
	name := nbserver.ServerName(l.Name, nb.Name)
	st := quantumv1alpha1.NotebookStatus{Name: nb.Name}
	if prev != nil {
		st = *prev
	}
	// Culled (or failed) and not asked for since: stays so.
	if (st.State == quantumv1alpha1.NotebookCulled || st.State == quantumv1alpha1.NotebookFailed) &&
		st.CullTime != nil && !nb.RequestTime.After(st.CullTime.Time) {
		return st, 0, r.removeLeftovers(ctx, l.Namespace, name)
	}
	if r.Local != nil {
		return r.localNotebook(ctx, l, nb, st, name)
	}
	pod := &corev1.Pod{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: name}, pod)
	if apierrors.IsNotFound(err) {
		if stale, err := r.staleCache(ctx, l, nb.Name); err != nil || stale {
			return st, 0, err
		}
		if err := r.create(ctx, l, nb.Name, name); err != nil {
			return st, 0, err
		}
		now := metav1.NewTime(r.Now())
		r.Recorder.Eventf(l, nil, corev1.EventTypeNormal, "NotebookStarted", "Start", "started notebook server %s for %s", name, nb.Name)
		return quantumv1alpha1.NotebookStatus{
			Name: nb.Name, State: quantumv1alpha1.NotebookStarting, Pod: name, Service: name,
			URL: r.url(l.Namespace, name), StartTime: &now, CullTime: st.CullTime,
		}, r.Settings.IdleTimeout, nil
	}
	if err != nil {
		return st, 0, err
	}
	st.Pod, st.Service, st.URL = name, name, r.url(l.Namespace, name)
	if st.StartTime == nil {
		st.StartTime = &pod.CreationTimestamp
	}
	switch {
	case pod.Status.Phase == corev1.PodSucceeded:
		return r.cull(l, st, quantumv1alpha1.NotebookCulled, "the server shut down after "+r.Settings.IdleTimeout.String()+" without activity")
	case pod.Status.Phase == corev1.PodFailed:
		return r.cull(l, st, quantumv1alpha1.NotebookFailed, "the server failed: "+podReason(pod))
	case pod.Status.Phase == corev1.PodRunning && podReady(pod):
		st.State, st.Message = quantumv1alpha1.NotebookRunning, ""
		return st, 0, nil
	}
	// Not ready yet: give it until the idle timeout after the last request (or its start).
	since := st.StartTime.Time
	if nb.RequestTime.After(since) {
		since = nb.RequestTime.Time
	}
	left := since.Add(r.Settings.IdleTimeout).Sub(r.Now())
	if left <= 0 {
		return r.cull(l, st, quantumv1alpha1.NotebookCulled, "the server did not become ready within "+r.Settings.IdleTimeout.String())
	}
	st.State, st.Message = quantumv1alpha1.NotebookStarting, podReason(pod)
	return st, left, nil
}

// cull records that a server is gone (or must go). Its objects are removed
// once that is recorded (the "stays so" path of notebook), so that a failed
// status write never leaves a culled server to be started again.
func (r *Reconciler) cull(l *quantumv1alpha1.Learner, st quantumv1alpha1.NotebookStatus, state quantumv1alpha1.NotebookState, msg string) (quantumv1alpha1.NotebookStatus, time.Duration, error) {
	now := metav1.NewTime(r.Now())
	kind := corev1.EventTypeNormal
	if state == quantumv1alpha1.NotebookFailed {
		kind = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(l, nil, kind, "Notebook"+string(state[0])+lower(string(state[1:])), "Cull", "notebook server %s: %s", st.Pod, msg)
	return quantumv1alpha1.NotebookStatus{Name: st.Name, State: state, Message: msg, CullTime: &now}, 0, nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// staleCache reports whether the API server's Learner says more than the
// cached one about this notebook (e.g. that it was just culled): then the
// reconciler waits for the cache instead of starting a server.
func (r *Reconciler) staleCache(ctx context.Context, l *quantumv1alpha1.Learner, notebook string) (bool, error) {
	fresh := &quantumv1alpha1.Learner{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(l), fresh); err != nil {
		return true, client.IgnoreNotFound(err)
	}
	return fresh.ResourceVersion != l.ResourceVersion &&
		!equality.Semantic.DeepEqual(findStatus(fresh.Status.Notebooks, notebook), findStatus(l.Status.Notebooks, notebook)), nil
}

// removeLeftovers removes what remains of a culled server: its Pod, Service
// and ConfigMap (or its local process and ConfigMap).
func (r *Reconciler) removeLeftovers(ctx context.Context, ns, name string) error {
	key := client.ObjectKey{Namespace: ns, Name: name}
	var err error
	if r.Local != nil {
		r.Local.stop(ns + "/" + name)
		err = r.APIReader.Get(ctx, key, &corev1.ConfigMap{})
	} else if err = r.Client.Get(ctx, key, &corev1.Service{}); apierrors.IsNotFound(err) {
		err = r.Client.Get(ctx, key, &corev1.Pod{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.remove(ctx, ns, name)
}

// remove deletes a server's Pod, Service and ConfigMap; missing ones are fine.
func (r *Reconciler) remove(ctx context.Context, ns, name string) error {
	if r.Local != nil {
		r.Local.stop(ns + "/" + name)
	}
	om := metav1.ObjectMeta{Namespace: ns, Name: name}
	for _, obj := range []client.Object{&corev1.Pod{ObjectMeta: om}, &corev1.Service{ObjectMeta: om}, &corev1.ConfigMap{ObjectMeta: om}} {
		if err := r.Client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

func (r *Reconciler) url(ns, name string) string {
	base := r.Settings.PublicURL
	if base == "" {
		base = "http://" + name + "." + ns + ".svc:" + strconv.Itoa(Port)
	}
	return trimSlash(base) + nbserver.BasePath(ns, name)
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// create makes the server's token ConfigMap, Pod and Service, each unless it exists.
func (r *Reconciler) create(ctx context.Context, l *quantumv1alpha1.Learner, notebook, name string) error {
	lbl := map[string]string{executor.ManagedByLabel: executor.ManagedBy, nbserver.LearnerLabel: l.Name, nbserver.NotebookLabel: notebook}
	om := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: l.Namespace, Name: name, Labels: lbl}
	}
	token := make([]byte, 24)
	if _, err := rand.Read(token); err != nil {
		return err
	}
	sec := &corev1.ConfigMap{ObjectMeta: om(), Data: map[string]string{nbserver.TokenKey: hex.EncodeToString(token)}}
	svc := &corev1.Service{ObjectMeta: om(), Spec: corev1.ServiceSpec{
		Selector: lbl,
		Ports:    []corev1.ServicePort{{Name: "http", Port: Port, TargetPort: intstr.FromInt32(Port)}},
	}}
	pod := &corev1.Pod{ObjectMeta: om(), Spec: r.podSpec(l, name)}
	for _, obj := range []client.Object{sec, svc, pod} {
		if err := controllerutil.SetControllerReference(l, obj, r.Client.Scheme()); err != nil {
			return err
		}
		if err := r.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s/%s: %w", obj, l.Namespace, name, err)
		}
	}
	return nil
}

// podSpec runs `jupyter notebook` as the image's unprivileged user, with the
// token from the ConfigMap, its URL prefix, and Jupyter's own idle culling:
// idle kernels go after the idle timeout, and the server exits once nothing
// happened for that long.
func (r *Reconciler) podSpec(l *quantumv1alpha1.Learner, name string) corev1.PodSpec {
	idle := strconv.Itoa(int(r.Settings.IdleTimeout.Seconds()))
	return corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:  "notebook",
			Image: r.Settings.Image,
			Command: []string{"jupyter", "notebook",
				"--ip=0.0.0.0", "--port=" + strconv.Itoa(Port), "--no-browser",
				"--ServerApp.base_url=" + nbserver.BasePath(l.Namespace, name),
				"--ServerApp.shutdown_no_activity_timeout=" + idle,
				"--MappingKernelManager.cull_idle_timeout=" + idle,
				"--MappingKernelManager.cull_interval=60",
			},
			Env: []corev1.EnvVar{
				{Name: "JUPYTER_TOKEN", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: nbserver.TokenKey,
				}}},
				{Name: "TWEEZER_USER_ID", Value: l.Spec.UserID},
				{Name: "TWEEZER_PACKAGE", Value: string(l.Spec.Package)},
			},
			Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: Port}},
			Resources: *r.Settings.Resources.DeepCopy(),
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: nbserver.BasePath(l.Namespace, name) + "api", Port: intstr.FromInt32(Port),
			}}},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReason(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason + ": " + w.Message
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("exit code %d %s %s", t.ExitCode, t.Reason, t.Message)
		}
	}
	if pod.Status.Message != "" {
		return pod.Status.Reason + " " + pod.Status.Message
	}
	return "pod " + string(pod.Status.Phase)
}

func readyCondition(statuses []quantumv1alpha1.NotebookStatus, gen int64) metav1.Condition {
	c := metav1.Condition{Type: quantumv1alpha1.ConditionNotebooksReady, Status: metav1.ConditionTrue, Reason: "AllRunning", Message: "every requested notebook server runs", ObservedGeneration: gen}
	if len(statuses) == 0 {
		c.Reason, c.Message = "NoNotebooks", "no notebook server requested"
		return c
	}
	for _, st := range statuses {
		if st.State != quantumv1alpha1.NotebookRunning {
			c.Status = metav1.ConditionFalse
			c.Reason = "Notebook" + string(st.State[0]) + lower(string(st.State[1:]))
			c.Message = "notebook " + st.Name + " is " + string(st.State)
			if st.Message != "" {
				c.Message += ": " + st.Message
			}
			return c
		}
	}
	return c
}
