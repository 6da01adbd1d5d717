package metrics

// The manager's metrics endpoint (cmd/manager, internal/metricsauth)
// authenticates and authorizes each scrape with a TokenReview and a
// SubjectAccessReview.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
