// Package learner holds the notebook reconciler of Learners: each notebook a
// learner asks for runs as a Jupyter server in a Pod, reachable through a
// Service, with a per-server token in a Secret. The facade, which hands the
// token to its learner, may read that one Secret and no other (a Role and
// RoleBinding per server); project members, whose `view` role reads
// ConfigMaps, cannot. A NetworkPolicy per server lets in only the facade and
// the ingress, and lets out neither the cluster's internal ranges nor the
// cloud metadata address. The package's starter notebook (starters/) is
// copied into the server's workspace. A server that is idle culls itself
// (Jupyter's own idle shutdown, which knows real activity); the reconciler
// then records CULLED and removes the server's objects. A server that never
// became ready within the idle timeout of its request is culled by the
// reconciler. Asking for a culled notebook again starts a new one.
// In local mode (Reconciler.Local, no kubelet) servers are `jupyter notebook`
// processes instead (local.go), and a machine without jupyter gets FAILED
// saying how to install it.
package learner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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
	// Image runs `jupyter notebook` (see README.md for the supported images).
	Image string
	// Flavour is the Jupyter of Image: FlavourServer (notebook 7, the Jupyter
	// Docker Stacks' images) or FlavourClassic (notebook 6).
	Flavour Flavour
	// Resources of the notebook container.
	Resources corev1.ResourceRequirements
	// IdleTimeout: a server without activity for this long shuts down and is culled.
	IdleTimeout time.Duration
	// PublicURL, when set, is the base of the URLs handed to learners (an
	// ingress routing /notebooks/<namespace>/<server>/ to the server's
	// Service); else the URL is the Service's in-cluster address.
	PublicURL string
	// APIURL is the facade's URL as a notebook reaches it, handed to the
	// notebook as TWEEZER_API_URL for the SDK.
	APIURL string
	// Facade is the facade's service account, namespace/name: it may read the
	// token Secret of each server, and its Pods may reach the servers.
	Facade string
	// FacadeLabels select the facade's Pods in its namespace (NetworkPolicy).
	FacadeLabels map[string]string
	// FacadePort is the facade Pods' port, which notebooks may reach.
	FacadePort int32
	// IngressNamespace, when set, is the namespace of the ingress controller
	// that serves PublicURL; its Pods may reach the servers.
	IngressNamespace string
	// InternalCIDRs are the cluster's internal ranges (Pods, Services, nodes),
	// which notebooks may not reach, with the metadata address 169.254.169.254.
	InternalCIDRs []string
}

// DefaultSettings are used for every field left empty.
func DefaultSettings() Settings {
	return Settings{
		Image: "quay.io/jupyter/base-notebook:latest",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		IdleTimeout:   time.Hour,
		Flavour:       FlavourServer,
		APIURL:        "http://tweezer-apiserver.tweezer-system.svc",
		Facade:        "tweezer-system/tweezer-apiserver",
		FacadeLabels:  map[string]string{"app.kubernetes.io/component": "apiserver"},
		FacadePort:    8000,
		InternalCIDRs: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"},
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
	if s.Flavour == "" {
		s.Flavour = d.Flavour
	}
	if s.APIURL == "" {
		s.APIURL = d.APIURL
	}
	if s.Facade == "" {
		s.Facade = d.Facade
	}
	if s.FacadeLabels == nil {
		s.FacadeLabels = d.FacadeLabels
	}
	if s.FacadePort == 0 {
		s.FacadePort = d.FacadePort
	}
	if s.InternalCIDRs == nil {
		s.InternalCIDRs = d.InternalCIDRs
	}
}

// MetadataCIDR is the cloud metadata address, never reachable from a notebook.
const MetadataCIDR = "169.254.169.254/32"

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
// Starter notebooks (ConfigMaps) and tokens (Secrets) of servers.
// +kubebuilder:rbac:groups="",resources=configmaps;secrets,verbs=get;create;delete
// The project id of a server's namespace, for TWEEZER_PROJECT_ID.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=create;delete
// The facade's right to read one server's token Secret.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=create;delete
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
// and other objects (or its local process and token Secret).
func (r *Reconciler) removeLeftovers(ctx context.Context, ns, name string) error {
	key := client.ObjectKey{Namespace: ns, Name: name}
	var err error
	if r.Local != nil {
		r.Local.stop(ns + "/" + name)
		err = r.APIReader.Get(ctx, key, &corev1.Secret{})
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

// remove deletes a server's objects; missing ones are fine.
func (r *Reconciler) remove(ctx context.Context, ns, name string) error {
	om := metav1.ObjectMeta{Namespace: ns, Name: name}
	objs := []client.Object{&corev1.Pod{ObjectMeta: om}, &corev1.Service{ObjectMeta: om}, &corev1.ConfigMap{ObjectMeta: om},
		&networkingv1.NetworkPolicy{ObjectMeta: om}, &rbacv1.RoleBinding{ObjectMeta: om}, &rbacv1.Role{ObjectMeta: om}, &corev1.Secret{ObjectMeta: om}}
	if r.Local != nil {
		r.Local.stop(ns + "/" + name)
		objs = objs[len(objs)-1:] // only the token Secret
	}
	for _, obj := range objs {
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

// labels are those of a server's objects; the Pod's select it.
func labels(l *quantumv1alpha1.Learner, notebook string) map[string]string {
	return map[string]string{executor.ManagedByLabel: executor.ManagedBy, nbserver.LearnerLabel: l.Name, nbserver.NotebookLabel: notebook}
}

// ensureToken creates the server's token Secret unless it exists, and returns the token.
func (r *Reconciler) ensureToken(ctx context.Context, l *quantumv1alpha1.Learner, notebook, name string) (string, error) {
	token := make([]byte, 24)
	if _, err := rand.Read(token); err != nil {
		return "", err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: l.Namespace, Name: name, Labels: labels(l, notebook)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{nbserver.TokenKey: []byte(hex.EncodeToString(token))},
	}
	if err := controllerutil.SetControllerReference(l, sec, r.Client.Scheme()); err != nil {
		return "", err
	}
	if err := r.Client.Create(ctx, sec); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("creating Secret %s/%s: %w", l.Namespace, name, err)
		}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(sec), sec); err != nil {
			return "", err
		}
	}
	return string(sec.Data[nbserver.TokenKey]), nil
}

// notebookEnv tells the notebook who and where it is, for the SDK of the
// starter notebook: the learner, the package, the project and the facade.
func (r *Reconciler) notebookEnv(ctx context.Context, l *quantumv1alpha1.Learner, apiURL string) ([]corev1.EnvVar, error) {
	ns := &corev1.Namespace{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: l.Namespace}, ns); err != nil {
		return nil, err
	}
	return []corev1.EnvVar{
		{Name: "TWEEZER_USER_ID", Value: l.Spec.UserID},
		{Name: "TWEEZER_PACKAGE", Value: string(l.Spec.Package)},
		{Name: "TWEEZER_PROJECT_ID", Value: ns.Labels[quantumv1alpha1.ProjectIDLabel]},
		{Name: "TWEEZER_API_URL", Value: apiURL},
	}, nil
}

// create makes the server's objects, each unless it exists: its token
// Secret and the facade's right to read it, its starter notebook, its
// NetworkPolicy, Service and Pod.
func (r *Reconciler) create(ctx context.Context, l *quantumv1alpha1.Learner, notebook, name string) error {
	if _, err := r.ensureToken(ctx, l, notebook, name); err != nil {
		return err
	}
	starter, err := Starter(l.Spec.Package)
	if err != nil {
		return err
	}
	env, err := r.notebookEnv(ctx, l, r.Settings.APIURL)
	if err != nil {
		return err
	}
	lbl := labels(l, notebook)
	om := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: l.Namespace, Name: name, Labels: lbl}
	}
	role, binding := r.tokenReader(name)
	role.ObjectMeta, binding.ObjectMeta = om(), om()
	starterCM := &corev1.ConfigMap{ObjectMeta: om(), BinaryData: map[string][]byte{StarterFile: starter}}
	svc := &corev1.Service{ObjectMeta: om(), Spec: corev1.ServiceSpec{
		Selector: lbl,
		Ports:    []corev1.ServicePort{{Name: "http", Port: Port, TargetPort: intstr.FromInt32(Port)}},
	}}
	policy := &networkingv1.NetworkPolicy{ObjectMeta: om(), Spec: r.networkPolicy(lbl)}
	pod := &corev1.Pod{ObjectMeta: om(), Spec: r.podSpec(l, name, env)}
	for _, obj := range []client.Object{role, binding, starterCM, policy, svc, pod} {
		if err := controllerutil.SetControllerReference(l, obj, r.Client.Scheme()); err != nil {
			return err
		}
		if err := r.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s/%s: %w", obj, l.Namespace, name, err)
		}
	}
	return nil
}

// tokenReader is the Role that reads the server's token Secret, and nothing
// else, and its binding to the facade's service account.
func (r *Reconciler) tokenReader(name string) (*rbacv1.Role, *rbacv1.RoleBinding) {
	saNS, sa, _ := strings.Cut(r.Settings.Facade, "/")
	return &rbacv1.Role{Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{name}, Verbs: []string{"get"},
		}}}, &rbacv1.RoleBinding{
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: saNS, Name: sa}},
		}
}

// networkPolicy lets into the server only the facade's Pods and the ingress
// controller's, on Jupyter's port; and lets out DNS, the facade (for the SDK)
// and the internet, but not the cluster's internal ranges nor the cloud
// metadata address.
func (r *Reconciler) networkPolicy(lbl map[string]string) networkingv1.NetworkPolicySpec {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	nsSel := func(ns string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
	}
	facadeNS, _, _ := strings.Cut(r.Settings.Facade, "/")
	facade := networkingv1.NetworkPolicyPeer{NamespaceSelector: nsSel(facadeNS), PodSelector: &metav1.LabelSelector{MatchLabels: r.Settings.FacadeLabels}}
	from := []networkingv1.NetworkPolicyPeer{facade}
	if r.Settings.IngressNamespace != "" {
		from = append(from, networkingv1.NetworkPolicyPeer{NamespaceSelector: nsSel(r.Settings.IngressNamespace)})
	}
	port := func(p corev1.Protocol, n int32) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: &p, Port: ptr.To(intstr.FromInt32(n))}
	}
	except := append(append([]string{}, r.Settings.InternalCIDRs...), MetadataCIDR)
	return networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: lbl},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: from, Ports: []networkingv1.NetworkPolicyPort{port(tcp, Port)}}},
		Egress: []networkingv1.NetworkPolicyEgressRule{
			{To: []networkingv1.NetworkPolicyPeer{
				{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: except}},
				{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: []string{"fc00::/7", "fe80::/10"}}},
			}},
			{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSel(metav1.NamespaceSystem), PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}}}},
				Ports: []networkingv1.NetworkPolicyPort{port(udp, 53), port(tcp, 53)}},
			{To: []networkingv1.NetworkPolicyPeer{facade}, Ports: []networkingv1.NetworkPolicyPort{port(tcp, r.Settings.FacadePort)}},
		},
	}
}

// Workspace is the notebook container's working folder, an emptyDir that an
// init container fills with the starter notebook.
const Workspace = "/workspace"

// podSpec runs jupyter as the image's unprivileged user (never root), with
// the token from the Secret, its URL prefix, the options of its flavour, and
// Jupyter's own idle culling: idle kernels go after the idle timeout, and the
// server exits once nothing happened for that long.
func (r *Reconciler) podSpec(l *quantumv1alpha1.Learner, name string, env []corev1.EnvVar) corev1.PodSpec {
	opts := ServerOptions{Flavour: r.Settings.Flavour, IP: "0.0.0.0", Port: Port, BaseURL: nbserver.BasePath(l.Namespace, name), Root: Workspace, Idle: r.Settings.IdleTimeout}
	secCtx := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	workspace := corev1.VolumeMount{Name: "workspace", MountPath: Workspace}
	return corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Volumes: []corev1.Volume{
			{Name: "workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "starter", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}},
		},
		InitContainers: []corev1.Container{{
			Name:            "starter",
			Image:           r.Settings.Image,
			Command:         []string{"cp", "/starter/" + StarterFile, Workspace + "/" + StarterFile},
			VolumeMounts:    []corev1.VolumeMount{workspace, {Name: "starter", MountPath: "/starter", ReadOnly: true}},
			Resources:       *r.Settings.Resources.DeepCopy(),
			SecurityContext: secCtx,
		}},
		Containers: []corev1.Container{{
			Name:    "notebook",
			Image:   r.Settings.Image,
			Command: append([]string{"jupyter"}, opts.Args()...),
			Env: append([]corev1.EnvVar{
				{Name: "JUPYTER_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: nbserver.TokenKey,
				}}},
			}, env...),
			Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: Port}},
			Resources:    *r.Settings.Resources.DeepCopy(),
			VolumeMounts: []corev1.VolumeMount{workspace},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: nbserver.BasePath(l.Namespace, name) + "api", Port: intstr.FromInt32(Port),
			}}},
			SecurityContext: secCtx,
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
