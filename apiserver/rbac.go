// Package apiserver is the REST facade of Tweezer: the cloud API that
// existing clients (the pasqal-cloud SDK among them) speak, served from the
// Batch, Job and Device custom resources. See README.md for its roles.
//
// The sub-packages each hold one idea: envelope (JSend and errors), auth
// (TokenReview and SubjectAccessReview), internal/restdoc (resources to API JSON),
// query (filters, order, pages), handlers (the routes) and server (wiring).
//
// The markers below are the least RBAC the facade's own service account needs.
package apiserver

// Reads through informers and writes of intent: batches (with their jobs in
// spec.jobs, which the controller turns into Jobs) and cancels. The facade
// creates no Job. Statuses are written only for the worker routes.
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=batches;devices,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=jobs,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=batches/status;jobs/status,verbs=get;patch
// A batch create that the project's quota refuses leaves nothing behind:
// the facade reads the quotas first and, when the controller is refused all
// the same, deletes the batch it has just created and its Jobs
// (handlers/quota.go). The cache holds the quotas, read live only near a
// limit.
// +kubebuilder:rbac:groups="",resources=resourcequotas,verbs=list;watch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=batches;jobs,verbs=delete
// A workload whose config ConfigMap cannot be written is withdrawn likewise.
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=workloads,verbs=delete
// Projects are labelled namespaces.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// Full results live in ConfigMaps owned by their job; a batch's large
// sequences and a workload's large config in one it owns, which the facade
// writes (internal/sequences).
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create
// Secrets: the facade reads the key Secret of results links (one name, in
// its own namespace: --results-key-secret) and a notebook server's token
// Secret through the Role and RoleBinding that the notebook controller
// makes for that one Secret (controllers/learner), and no other Secret.
// +kubebuilder:rbac:groups="",namespace=tweezer-system,resources=secrets,resourceNames=tweezer-results-key,verbs=get;list;watch
// The facade writes for its callers (owner from the TokenReview, its own
// checks with clear messages), so config/admission's tenancy policies let it
// through; see docs/security.md.
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=tenancy,verbs=bypass
// The notebook proxy (/notebooks/…) finds a learner's server from its
// Service's EndpointSlices (addresses only; no pod specs).
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=list;watch
// Authentication and authorization of callers.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
