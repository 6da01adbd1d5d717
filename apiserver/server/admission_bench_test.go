package server_test

import (
	"context"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

// BenchmarkAdmissionCost measures what the tenancy policies cost a write, in
// one run: a batch of 10 jobs created through the facade (which passes them
// after one authorization check per policy) and a batch created by a member
// straight through the kube API (every policy evaluated), first with the
// policies in force, then with their bindings removed. The bindings are
// restored afterwards.
func BenchmarkAdmissionCost(b *testing.B) {
	tok := tenants(b)
	tina := kubeAs(b, tok["tina"])
	ctx := context.Background()
	body := newBatch(tenantA, 10, nil)
	direct := func(b *testing.B) {
		for range b.N {
			if err := tina.Create(ctx, directBatch(tenantA), client.DryRunAll); err != nil {
				b.Fatal(err)
			}
		}
	}
	facadeCreate := func(b *testing.B) {
		for range b.N {
			expect(b, call(b, "POST", "/api/v1/batches", tok["tina"], body, false), 200)
		}
	}
	b.Run("policies/facade", facadeCreate)
	b.Run("policies/direct", direct)

	unbind(b)
	defer func() {
		if err := controlplane.InstallAdmission(ctx, restCfg); err != nil {
			b.Fatal(err)
		}
	}()
	b.Run("none/facade", facadeCreate)
	b.Run("none/direct", direct)
}

// unbind deletes the policies' bindings and waits until a member's HIGH
// batch is no longer refused.
func unbind(b *testing.B) {
	ctx := context.Background()
	var vb admissionregistrationv1.ValidatingAdmissionPolicyBindingList
	var mb admissionregistrationv1.MutatingAdmissionPolicyBindingList
	if err := admin.List(ctx, &vb); err != nil {
		b.Fatal(err)
	}
	if err := admin.List(ctx, &mb); err != nil {
		b.Fatal(err)
	}
	for i := range vb.Items {
		if err := admin.Delete(ctx, &vb.Items[i]); err != nil {
			b.Fatal(err)
		}
	}
	for i := range mb.Items {
		if err := admin.Delete(ctx, &mb.Items[i]); err != nil {
			b.Fatal(err)
		}
	}
	tina := kubeAs(b, tenants(b)["tina"])
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		hi := directBatch(tenantA)
		hi.Spec.QueuePriority = quantumv1alpha1.QueuePriorityHigh
		hi.Spec.UserID = "nobody"
		if err := tina.Create(ctx, hi, client.DryRunAll); err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("the policies still apply after their bindings were deleted")
		}
	}
}
