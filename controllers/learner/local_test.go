package learner

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/nbserver"
)

// Local mode: the reconciler runs `jupyter notebook` processes. The tests
// stand fake jupyter commands in for the real one and reconcile by hand.

func localReconciler(t *testing.T, jupyter string) (*Reconciler, string) {
	t.Helper()
	pns := testenv.ProjectNamespace("local-" + rand.String(8))
	if err := k8s.Create(ctx, pns); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: k8s, APIReader: k8s, Recorder: recorder, Now: time.Now, Local: NewLocal(jupyter),
		Settings: Settings{IdleTimeout: 10 * time.Minute}}
	r.Settings.defaults()
	return r, pns.Name
}

func fakeJupyter(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jupyter")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// reconcileUntil reconciles the learner until its notebook is in state.
func reconcileUntil(t *testing.T, r *Reconciler, l *v1.Learner, state v1.NotebookState) v1.NotebookStatus {
	t.Helper()
	var got v1.NotebookStatus
	eventually(t, "notebook "+string(state), func() (bool, error) {
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(l)}); err != nil {
			return false, err
		}
		cur := &v1.Learner{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(l), cur); err != nil {
			return false, err
		}
		for _, st := range cur.Status.Notebooks {
			got = st
			if st.State == state {
				return true, nil
			}
		}
		return false, nil
	})
	return got
}

func localLearner(t *testing.T, ns string) *v1.Learner {
	t.Helper()
	user := "local-" + rand.String(6)
	l := &v1.Learner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1.LearnerName(user, "VQPU")},
		Spec: v1.LearnerSpec{UserID: user, Package: "VQPU", Notebooks: []v1.LearnerNotebook{{Name: "nb", RequestTime: metav1.Now()}}}}
	if err := k8s.Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLocalModeSaysWhenJupyterIsMissing(t *testing.T) {
	for _, jupyter := range []string{"/nonexistent/bin/jupyter", "jupyter-not-installed-" + rand.String(4)} {
		r, ns := localReconciler(t, jupyter)
		l := localLearner(t, ns)
		st := reconcileUntil(t, r, l, v1.NotebookFailed)
		if !strings.HasPrefix(st.Message, "jupyter is not installed on this machine (") || !strings.Contains(st.Message, "pip install notebook") {
			t.Fatalf("message %q", st.Message)
		}
		// It stays failed (no retry loop) until asked again.
		reconcileUntil(t, r, l, v1.NotebookFailed)
	}
}

func TestLocalModeRunsJupyterAndStopsIt(t *testing.T) {
	dir := t.TempDir()
	jupyter := fakeJupyter(t, `echo "$JUPYTER_TOKEN $*" > `+dir+`/args
for a; do case "$a" in --port=*) p="${a#--port=}";; esac; done
exec python3 -m http.server --bind 127.0.0.1 "$p" >/dev/null 2>&1
`)
	r, ns := localReconciler(t, jupyter)
	l := localLearner(t, ns)
	st := reconcileUntil(t, r, l, v1.NotebookRunning)
	name := nbserver.ServerName(l.Name, "nb")
	if !strings.HasPrefix(st.URL, "http://127.0.0.1:") || !strings.HasSuffix(st.URL, "/notebooks/"+ns+"/"+name+"/") {
		t.Fatalf("url %q", st.URL)
	}
	sec := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec); err != nil {
		t.Fatal(err)
	}
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{sec.Data[nbserver.TokenKey] + " notebook ", "--ServerApp.base_url=/notebooks/" + ns + "/" + name + "/", "--ServerApp.shutdown_no_activity_timeout=600", "--ip=127.0.0.1"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("jupyter got %q, want %q in it", args, want)
		}
	}
	port := strings.TrimPrefix(strings.Split(st.URL, "/")[2], "127.0.0.1:")

	// No longer wanted: the process and the token ConfigMap go.
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(l), l); err != nil {
		t.Fatal(err)
	}
	l.Spec.Notebooks = nil
	if err := k8s.Update(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(l)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the server to stop", func() (bool, error) {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			_ = c.Close()
		}
		return err != nil, nil
	})
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec); !apierrors.IsNotFound(err) {
		t.Fatalf("token ConfigMap: %v", err)
	}
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("port %q", port)
	}
}

func TestLocalModeCullsAnExitedServerAndReportsAFailedOne(t *testing.T) {
	r, ns := localReconciler(t, fakeJupyter(t, "exit 0\n"))
	st := reconcileUntil(t, r, localLearner(t, ns), v1.NotebookCulled)
	if st.Message != "the server shut down after 10m0s without activity" || st.URL != "" {
		t.Fatalf("culled: %+v", st)
	}
	r, ns = localReconciler(t, fakeJupyter(t, "exit 3\n"))
	if st := reconcileUntil(t, r, localLearner(t, ns), v1.NotebookFailed); st.Message != "jupyter exited: exit status 3" {
		t.Fatalf("failed: %+v", st)
	}
}
