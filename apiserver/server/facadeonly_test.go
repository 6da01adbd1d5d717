package server_test

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
)

// A member bound to tweezer-user-facade writes through the facade, where
// the project's write budget applies, and only reads with its own token:
// kube-apiserver refuses its writes at authorization, before their bodies
// are read.
func TestAFacadeOnlyMemberWritesThroughTheFacadeOnly(t *testing.T) {
	const project = "fa0ade11-2b3c-4d5e-8f90-a1b2c3d4e5f6"
	ctx := context.Background()
	if err := admin.Create(ctx, testenv.ProjectNamespace(project)); err != nil {
		t.Fatal(err)
	}
	fay, err := newUser(ctx, "fay")
	if err != nil {
		t.Fatal(err)
	}
	user := "system:serviceaccount:" + usersNS + ":fay"
	subject := rbacv1.Subject{Kind: "ServiceAccount", Name: "fay", Namespace: usersNS}
	if err := admin.Create(ctx, binding(project, "tweezer-user-facade", "ClusterRole", subject)); err != nil {
		t.Fatal(err)
	}
	if err := awaitAllowed(ctx, user, project, "get", "batches"); err != nil {
		t.Fatal(err)
	}

	// Through the facade: a batch, a job added, a cancel, a workload.
	id := createBatch(t, fay, newBatch(project, 1, map[string]any{"open": true}))["id"].(string)
	expect(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", fay, []map[string]any{{"runs": 5}}, false), 200)
	r := expect(t, call(t, "PUT", "/api/v1/batches/"+id+"/cancel", fay, nil, false), 200)
	if r.data()["status"] != "CANCELED" {
		t.Errorf("canceled batch: %s", r.raw)
	}
	expect(t, call(t, "POST", "/api/v1/workloads", fay, pulserWorkload(project), false), 200)

	// With its own token: reads pass, writes are refused by RBAC.
	kube := kubeAs(t, fay)
	list := &quantumv1alpha1.BatchList{}
	if err := kube.List(ctx, list, client.InNamespace(project)); err != nil || len(list.Items) != 1 {
		t.Fatalf("listing its batches straight from kube-apiserver: %d, %v", len(list.Items), err)
	}
	direct := directBatch(project)
	direct.Spec.UserID = user
	if err := kube.Create(ctx, direct); !apierrors.IsForbidden(err) {
		t.Fatalf("a direct create: %v, want forbidden", err)
	}
	cur := list.Items[0].DeepCopy()
	cur.Spec.Tags = []string{"changed"}
	if err := kube.Update(ctx, cur); !apierrors.IsForbidden(err) {
		t.Fatalf("a direct update: %v, want forbidden", err)
	}

	// The role is bound in fay's project only: through the facade, another
	// project is as unknown to her as to any outsider.
	envelopeFail(t, call(t, "POST", "/api/v1/batches", fay, newBatch(projB, 1, nil), false), 422, "unknown project")
}
