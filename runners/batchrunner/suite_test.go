package batchrunner

import (
	"context"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tweezer-dev/tweezer/hack/testenv"
)

// k8s is an admin client of the control plane (etcd + kube-apiserver with
// the Tweezer CRDs) that the package's tests share.
var k8s client.WithWatch

// restConfig connects to that control plane (for runners under test).
var restConfig *rest.Config

func TestMain(m *testing.M) {
	env, cfg, c, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		os.Exit(1)
	}
	k8s, restConfig = c, cfg
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// namespace creates a namespace for one test.
func namespace(t *testing.T, name string) {
	t.Helper()
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}
