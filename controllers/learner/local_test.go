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

// Local mode: the reconciler runs `jupyter notebook` processes. These tests
// stand fake jupyter commands in for the real one and reconcile by hand;
// internal/local's end-to-end test runs Debian's real Jupyter.

func localReconciler(t *testing.T, jupyter string) (*Reconciler, string) {
	t.Helper()
	pns := testenv.ProjectNamespace("local-" + rand.String(8))
	if err := k8s.Create(ctx, pns); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: k8s, APIReader: k8s, Recorder: recorder, Now: time.Now, Local: NewLocal(jupyter, t.TempDir()),
		Settings: Settings{IdleTimeout: 10 * time.Minute}}
	r.Local.APIURL = "http://127.0.0.1:8000"
	r.Settings.defaults()
	return r, pns.Name
}

// fakeJupyter is a jupyter command that says it is notebook <version> and
// otherwise runs script.
func fakeJupyter(t *testing.T, version, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jupyter")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nif [ \"$*\" = 'notebook --version' ]; then echo "+version+"; exit 0; fi\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeServer is a script that answers GET <base>api/status, given the token,
// with the activity lastActivity (a Python expression) and no kernel, on the
// port of its --*.port= option; it records its arguments and environment in dir.
func fakeServer(dir, lastActivity string) string {
	return `echo "$*" > ` + dir + `/args; env > ` + dir + `/env; pwd > ` + dir + `/pwd
for a; do case "$a" in --*.port=*) p="${a#*.port=}";; esac; done
exec python3 -c '
import datetime, http.server, json, os, sys
token = os.environ["JUPYTER_TOKEN"]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path.endswith("/api/status") and self.headers.get("Authorization") == "token " + token
        self.send_response(200 if ok else 403)
        self.end_headers()
        if ok:
            now = datetime.datetime.now(datetime.timezone.utc)
            self.wfile.write(json.dumps({"last_activity": (` + lastActivity + `).isoformat().replace("+00:00", "Z"), "kernels": 0, "connections": 0}).encode())
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$p"
`
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
		if !strings.HasPrefix(st.Message, "jupyter is not installed on this machine (") || !strings.HasSuffix(st.Message, InstallHint) {
			t.Fatalf("message %q", st.Message)
		}
		// It stays failed (no retry loop) until asked again.
		reconcileUntil(t, r, l, v1.NotebookFailed)
	}
	// A jupyter without the notebook server.
	r, ns := localReconciler(t, fakeJupyter(t, "", "exit 0\n"))
	path := r.Local.Jupyter
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho \"Jupyter command jupyter-notebook not found.\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := reconcileUntil(t, r, localLearner(t, ns), v1.NotebookFailed)
	if !strings.Contains(st.Message, "`"+path+" notebook --version` failed (exit status 1): Jupyter command jupyter-notebook not found.") || !strings.HasSuffix(st.Message, InstallHint) {
		t.Fatalf("message %q", st.Message)
	}
}

func TestLocalModeRunsJupyterAndStopsIt(t *testing.T) {
	for _, c := range []struct {
		version string
		app     string
	}{{"6.4.12", "NotebookApp"}, {"7.2.1", "ServerApp"}} {
		dir := t.TempDir()
		r, ns := localReconciler(t, fakeJupyter(t, c.version, fakeServer(dir, "now")))
		l := localLearner(t, ns)
		st := reconcileUntil(t, r, l, v1.NotebookRunning)
		name := nbserver.ServerName(l.Name, "nb")
		if !strings.HasPrefix(st.URL, "http://127.0.0.1:") || !strings.HasSuffix(st.URL, "/notebooks/"+ns+"/"+name+"/") {
			t.Fatalf("url %q", st.URL)
		}
		sec := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec); err != nil {
			t.Fatal(err)
		}
		if o := metav1.GetControllerOf(sec); o == nil || o.UID != l.UID {
			t.Errorf("token Secret owner %+v", o)
		}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
			t.Errorf("a token ConfigMap: %v", err)
		}
		args, _ := os.ReadFile(filepath.Join(dir, "args"))
		env, _ := os.ReadFile(filepath.Join(dir, "env"))
		pwd, _ := os.ReadFile(filepath.Join(dir, "pwd"))
		workspace := filepath.Join(r.Local.DataDir, "notebooks", ns, l.Name)
		wantArgs := []string{"notebook ", "--" + c.app + ".base_url=/notebooks/" + ns + "/" + name + "/", "--" + c.app + ".shutdown_no_activity_timeout=600", "--" + c.app + ".ip=127.0.0.1"}
		if os.Geteuid() == 0 {
			wantArgs = append(wantArgs, "--"+c.app+".allow_root=True")
		}
		for _, want := range wantArgs {
			if !strings.Contains(string(args), want) {
				t.Errorf("jupyter %s got %q, want %q in it", c.version, args, want)
			}
		}
		for _, want := range []string{"JUPYTER_TOKEN=" + string(sec.Data[nbserver.TokenKey]) + "\n", "TWEEZER_PROJECT_ID=" + ns + "\n", "TWEEZER_PACKAGE=VQPU\n", "TWEEZER_API_URL=http://127.0.0.1:8000\n"} {
			if !strings.Contains(string(env), want) {
				t.Errorf("jupyter's environment lacks %q", want)
			}
		}
		if strings.TrimSpace(string(pwd)) != workspace {
			t.Errorf("jupyter ran in %q, not the workspace %q", pwd, workspace)
		}
		starter, _ := Starter("VQPU")
		if got, err := os.ReadFile(filepath.Join(workspace, StarterFile)); err != nil || string(got) != string(starter) {
			t.Errorf("starter notebook in the workspace: %v", err)
		}
		port := strings.TrimPrefix(strings.Split(st.URL, "/")[2], "127.0.0.1:")

		// No longer wanted: the process and the token Secret go.
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
			t.Fatalf("token Secret: %v", err)
		}
		if _, err := strconv.Atoi(port); err != nil {
			t.Fatalf("port %q", port)
		}
	}
}

// A server idle (no kernel, no activity) for the idle time is stopped and
// recorded CULLED at the next look, without waiting for Jupyter's own
// once-a-minute check.
func TestLocalModeCullsAnIdleServer(t *testing.T) {
	dir := t.TempDir()
	r, ns := localReconciler(t, fakeJupyter(t, "6.4.12", fakeServer(dir, "now - datetime.timedelta(minutes=11)")))
	st := reconcileUntil(t, r, localLearner(t, ns), v1.NotebookCulled)
	if st.Message != "the server shut down after 10m0s without activity" || st.URL != "" {
		t.Fatalf("culled: %+v", st)
	}
	r.Local.mu.Lock()
	left := len(r.Local.procs)
	r.Local.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d processes left", left)
	}
}

func TestLocalModeCullsAnExitedServerAndReportsAFailedOne(t *testing.T) {
	r, ns := localReconciler(t, fakeJupyter(t, "6.4.12", "exit 0\n"))
	st := reconcileUntil(t, r, localLearner(t, ns), v1.NotebookCulled)
	if st.Message != "the server shut down after 10m0s without activity" || st.URL != "" {
		t.Fatalf("culled: %+v", st)
	}
	// A failure carries Jupyter's last lines, and its log stays in DataDir/logs.
	r, ns = localReconciler(t, fakeJupyter(t, "6.4.12", "echo starting; echo 'Running as root is not recommended. Use --allow-root to bypass.' >&2; exit 3\n"))
	l := localLearner(t, ns)
	st = reconcileUntil(t, r, l, v1.NotebookFailed)
	log := filepath.Join(r.Local.DataDir, "logs", "notebook-"+ns+"-"+nbserver.ServerName(l.Name, "nb")+".log")
	if want := "jupyter exited: exit status 3; its last lines:\nstarting\nRunning as root is not recommended. Use --allow-root to bypass.\n(full log: " + log + ")"; st.Message != want {
		t.Fatalf("failed: %q, want %q", st.Message, want)
	}
	if b, err := os.ReadFile(log); err != nil || !strings.Contains(string(b), "--allow-root to bypass") {
		t.Fatalf("log %q: %v", b, err)
	}
}
