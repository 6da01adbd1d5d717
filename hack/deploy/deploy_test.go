// Package deploy_test proves that config/default, what `make deploy` applies
// to a cluster, renders and applies cleanly, and that the manager's and the
// facade's service accounts get what they need and no more.
package deploy_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

func TestDeploy(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Deployment manifests suite")
}

var (
	ctx = context.Background()
	env *envtest.Environment
	k8s client.Client
)

var _ = BeforeSuite(func() {
	var err error
	env, _, k8s, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// kustomization is the part of kustomize's file format that config/ uses.
type kustomization struct {
	Namespace string   `json:"namespace"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// render reads a kustomization the way kustomize does for what config/ uses:
// resources (files and folders), the namespace of namespaced objects, and image names.
func render(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	Expect(err).NotTo(HaveOccurred(), "%s has a kustomization.yaml", dir)
	var k kustomization
	Expect(sigsyaml.UnmarshalStrict(raw, &k)).To(Succeed(), dir)

	var objs []*unstructured.Unstructured
	for _, res := range k.Resources {
		path := filepath.Join(dir, res)
		info, err := os.Stat(path)
		Expect(err).NotTo(HaveOccurred(), "%s lists %s", dir, res)
		if info.IsDir() {
			objs = append(objs, render(path)...)
			continue
		}
		objs = append(objs, decodeFile(path)...)
	}
	for _, o := range objs {
		if k.Namespace != "" && namespaced(o) {
			o.SetNamespace(k.Namespace)
		}
		for _, img := range k.Images {
			setImage(o, img.Name, img.NewName+":"+img.NewTag)
		}
	}
	return objs
}

func decodeFile(path string) []*unstructured.Unstructured {
	GinkgoHelper()
	fh, err := os.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = fh.Close() }()
	dec := utilyaml.NewYAMLOrJSONDecoder(fh, 4096)
	var out []*unstructured.Unstructured
	for {
		o := &unstructured.Unstructured{}
		err := dec.Decode(&o.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		Expect(err).NotTo(HaveOccurred(), path)
		if len(o.Object) > 0 {
			out = append(out, o)
		}
	}
}

func namespaced(o *unstructured.Unstructured) bool {
	GinkgoHelper()
	ns, err := k8s.IsObjectNamespaced(o)
	Expect(err).NotTo(HaveOccurred(), "%s %s", o.GetKind(), o.GetName())
	return ns
}

func setImage(o *unstructured.Unstructured, name, image string) {
	containers, found, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if !found {
		return
	}
	for i, c := range containers {
		m := c.(map[string]any)
		if m["image"] == name || strings.HasPrefix(m["image"].(string), name+":") {
			m["image"] = image
			containers[i] = m
		}
	}
	Expect(unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers")).To(Succeed())
}

// can asks the API server whether a service account may do a verb on a resource.
func can(sa, verb, group, resource, namespace string) bool {
	GinkgoHelper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:tweezer-system:" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:tweezer-system"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Group: group, Resource: resource, Namespace: namespace,
		},
	}}
	Expect(k8s.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}

var _ = Describe("config/default", func() {
	It("renders and applies to a real API server, with the image set and least-privilege RBAC", func() {
		objs := render(filepath.Join(controlplane.RepoRoot(), "config", "default"))
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.GetKind()]++
		}
		Expect(kinds).To(HaveKeyWithValue("Deployment", 2))
		Expect(kinds).To(HaveKeyWithValue("Device", 7))
		Expect(kinds["CustomResourceDefinition"]).To(BeNumerically(">=", 4))
		Expect(kinds).To(HaveKey("ClusterRole"))
		Expect(kinds).To(HaveKeyWithValue("ValidatingAdmissionPolicy", 7))
		Expect(kinds).To(HaveKeyWithValue("ValidatingAdmissionPolicyBinding", 7))
		Expect(kinds).To(HaveKeyWithValue("MutatingAdmissionPolicy", 1))
		Expect(kinds).To(HaveKeyWithValue("MutatingAdmissionPolicyBinding", 1))

		// Namespaces and CRDs first, then the rest, as kubectl apply orders them.
		rank := func(o *unstructured.Unstructured) int {
			switch o.GetKind() {
			case "Namespace", "CustomResourceDefinition":
				return 0
			}
			return 1
		}
		for pass := 0; pass < 2; pass++ {
			for _, o := range objs {
				if rank(o) != pass {
					continue
				}
				Expect(k8s.Patch(ctx, o, client.Apply, client.FieldOwner("deploy-test"), client.ForceOwnership)).
					To(Succeed(), "%s %s", o.GetKind(), o.GetName())
			}
		}

		for _, o := range objs {
			if o.GetKind() != "Deployment" {
				continue
			}
			Expect(o.GetNamespace()).To(Equal("tweezer-system"))
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			Expect(containers[0].(map[string]any)["image"]).To(Equal("ghcr.io/tweezer-dev/tweezer:latest"))
		}

		// The manager drives batches, jobs, pods and leases, and is no cluster-admin.
		Expect(can("tweezer-manager", "update", "quantum.tweezer.dev", "batches/status", "some-project")).To(BeTrue())
		Expect(can("tweezer-manager", "create", "quantum.tweezer.dev", "jobs", "some-project")).To(BeTrue())
		Expect(can("tweezer-manager", "create", "", "pods", "some-project")).To(BeTrue())
		Expect(can("tweezer-manager", "update", "coordination.k8s.io", "leases", "tweezer-system")).To(BeTrue())
		Expect(can("tweezer-manager", "delete", "", "nodes", "")).To(BeFalse())
		Expect(can("tweezer-manager", "delete", "", "namespaces", "")).To(BeFalse())
		// It keeps each project's quota and limits, and deletes expired
		// batches, but may not delete the quota it keeps, nor jobs by itself.
		Expect(can("tweezer-manager", "patch", "", "resourcequotas", "some-project")).To(BeTrue())
		Expect(can("tweezer-manager", "patch", "", "limitranges", "some-project")).To(BeTrue())
		Expect(can("tweezer-manager", "delete", "", "resourcequotas", "some-project")).To(BeFalse())
		Expect(can("tweezer-manager", "delete", "quantum.tweezer.dev", "batches", "some-project")).To(BeTrue())
		Expect(can("tweezer-manager", "delete", "quantum.tweezer.dev", "jobs", "some-project")).To(BeFalse())

		// The facade reviews tokens and access and writes batches; it starts no pods.
		Expect(can("tweezer-apiserver", "create", "authentication.k8s.io", "tokenreviews", "")).To(BeTrue())
		Expect(can("tweezer-apiserver", "create", "authorization.k8s.io", "subjectaccessreviews", "")).To(BeTrue())
		Expect(can("tweezer-apiserver", "create", "quantum.tweezer.dev", "batches", "some-project")).To(BeTrue())
		Expect(can("tweezer-apiserver", "create", "", "pods", "some-project")).To(BeFalse())
		Expect(can("tweezer-apiserver", "get", "", "secrets", "kube-system")).To(BeFalse())
		Expect(can("tweezer-apiserver", "delete", "", "nodes", "")).To(BeFalse())

		// Both write for users and may pass the tenancy admission policies; nobody else may.
		Expect(can("tweezer-apiserver", "bypass", "quantum.tweezer.dev", "tenancy", "")).To(BeTrue())
		Expect(can("tweezer-manager", "bypass", "quantum.tweezer.dev", "tenancy", "")).To(BeTrue())
		Expect(can("tweezer-runner", "bypass", "quantum.tweezer.dev", "tenancy", "")).To(BeFalse())
	})
})
