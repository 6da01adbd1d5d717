package batchrunner

import (
	"net/http"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Cluster is a runner's connection to the API server. A process that runs
// batches one after another (runner serve) shares one, so that a batch
// reuses the connections and the API discovery of the ones before it.
type Cluster struct {
	config     *rest.Config
	scheme     *runtime.Scheme
	httpClient *http.Client
	mapper     meta.RESTMapper
	client     client.Client
}

// NewCluster connects to the API server of cfg; nothing is requested until
// a runner uses it.
func NewCluster(cfg *rest.Config, scheme *runtime.Scheme) (*Cluster, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme, HTTPClient: hc, Mapper: mapper})
	if err != nil {
		return nil, err
	}
	return &Cluster{config: cfg, scheme: scheme, httpClient: hc, mapper: mapper, client: cl}, nil
}
