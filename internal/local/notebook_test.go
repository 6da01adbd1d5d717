package local_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coder/websocket"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// notebookIdle is the platform's notebook idle time in this suite: short, so
// that the cull is seen within seconds, yet longer than a kernel takes to
// start on a busy machine (Jupyter counts a request as activity only once
// answered: a server with no kernel yet and no activity for this long is idle).
const notebookIdle = 10 * time.Second

// notebook is the facade's notebook shape.
type notebook struct {
	Name    string  `json:"name"`
	State   string  `json:"state"`
	URL     *string `json:"url"`
	Message string  `json:"message"`
}

// A learner's notebook, end to end on Debian's real Jupyter: spawned through
// the facade, opened with its URL, a cell run through Jupyter's REST and
// kernel websocket API, refused without its token, culled when idle.
var _ = Describe("A learner's notebook in local mode", Ordered, func() {
	var (
		path    string // the spawn route
		nbURL   *url.URL
		token   string
		started time.Time
	)

	learnerNotebook := func() notebook {
		var l []struct { // the reference answers a list of one learner
			Notebooks []notebook `json:"notebooks"`
		}
		Expect(api.Do(ctx, http.MethodGet, "/api/v1/learners/VQPU?project_id="+platform.ProjectID, nil, &l)).To(Succeed())
		Expect(l).To(HaveLen(1))
		Expect(l[0].Notebooks).To(HaveLen(1))
		return l[0].Notebooks[0]
	}
	// get fetches a path of the notebook server, with its token as Jupyter's
	// Authorization header when withToken.
	get := func(p string, withToken bool) (int, []byte) {
		GinkgoHelper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, nbURL.Scheme+"://"+nbURL.Host+p, nil)
		Expect(err).NotTo(HaveOccurred())
		if withToken {
			req.Header.Set("Authorization", "token "+token)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}

	ReportAfterEach(func(r SpecReport) {
		if !r.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(opts.DataDir, "logs", "notebook-*.log"))
		for _, l := range logs {
			raw, _ := os.ReadFile(l)
			AddReportEntry(filepath.Base(l), string(raw[max(0, len(raw)-6000):]))
		}
	})

	It("spawns: the spawn and the learner record say the same, then Running with a URL", func() {
		path = "/api/v1/learners/VQPU/notebooks/intro?project_id=" + platform.ProjectID
		started = time.Now()
		var nb notebook
		Expect(api.Do(ctx, http.MethodPost, path, nil, &nb)).To(Succeed())
		Expect(nb.State).To(BeElementOf("STARTING", "RUNNING"), "%+v", nb)
		rec := learnerNotebook()
		if rec.State == nb.State { // unless the server came up in between
			Expect(rec.Message).To(Equal(nb.Message))
		}
		Eventually(func(g Gomega) {
			g.Expect(api.Do(ctx, http.MethodPost, path, nil, &nb)).To(Succeed())
			g.Expect(nb.State).To(Equal("RUNNING"), "%+v", nb)
		}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(nb.URL).NotTo(BeNil())
		u, err := url.Parse(*nb.URL)
		Expect(err).NotTo(HaveOccurred())
		// Local mode hands out the server itself, on the loopback, with its token.
		Expect(u.Scheme + "://" + u.Hostname()).To(Equal("http://127.0.0.1"))
		Expect(u.Path).To(HavePrefix("/notebooks/" + platform.ProjectID + "/nb-intro-"))
		token = u.Query().Get("token")
		Expect(token).To(HaveLen(48))
		nbURL = u
		Expect(learnerNotebook()).To(Equal(notebook{Name: "intro", State: "RUNNING", URL: ptr(strings.TrimSuffix(*nb.URL, "?token="+token))}))
	})

	It("opens: the URL serves the notebook UI, and /api/contents lists the starter notebook", func() {
		resp, err := http.Get(nbURL.String())
		Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		// The token signs the browser in: the server sends it on to its file tree.
		Expect(resp.Request.URL.Path).To(Equal(nbURL.Path + "tree"))
		Expect(string(body)).To(ContainSubstring("Jupyter"))

		code, body := get(nbURL.Path+"api/contents", true)
		Expect(code).To(Equal(http.StatusOK), string(body))
		var dir struct {
			Content []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"content"`
		}
		Expect(json.Unmarshal(body, &dir)).To(Succeed())
		Expect(dir.Content).To(ContainElement(And(HaveField("Name", "starter.ipynb"), HaveField("Type", "notebook"))))

		code, body = get(nbURL.Path+"api/contents/starter.ipynb", true)
		Expect(code).To(Equal(http.StatusOK), string(body))
		Expect(string(body)).To(And(ContainSubstring("from pulser import"), ContainSubstring("sdk.create_batch(")))
	})

	It("refuses a request without the token", func() {
		code, _ := get(nbURL.Path+"api/contents", false)
		Expect(code).To(Equal(http.StatusForbidden))
		code, _ = get(nbURL.Path+"api/kernels", false)
		Expect(code).To(Equal(http.StatusForbidden))
		// The UI without the token sends to the login page, not the notebook.
		code, _ = get(nbURL.Path+"tree", false)
		Expect(code).To(Equal(http.StatusFound))
		code, _ = get(nbURL.Path+"api/contents?token=not-"+token[4:], false)
		Expect(code).To(Equal(http.StatusForbidden))
	})

	It("executes a cell through the REST and kernel websocket API", func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+nbURL.Host+nbURL.Path+"api/kernels", strings.NewReader(`{"name":"python3"}`))
		Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "token "+token)
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		var kernel struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}
		Expect(json.NewDecoder(resp.Body).Decode(&kernel)).To(Succeed())
		_ = resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusCreated))
		Expect(kernel.Name).To(Equal("python3"))

		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		session := newID()
		ws, _, err := websocket.Dial(wctx, "ws://"+nbURL.Host+nbURL.Path+"api/kernels/"+kernel.ID+"/channels?session_id="+session,
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"token " + token}}})
		Expect(err).NotTo(HaveOccurred())
		ws.SetReadLimit(1 << 20)
		defer func() { _ = ws.CloseNow() }()

		msgID := newID()
		execute := map[string]any{
			"header":        map[string]any{"msg_id": msgID, "session": session, "username": "e2e", "msg_type": "execute_request", "version": "5.3", "date": time.Now().UTC().Format(time.RFC3339)},
			"parent_header": map[string]any{}, "metadata": map[string]any{}, "channel": "shell", "buffers": []any{},
			"content": map[string]any{"code": "import sys\nprint(sum(range(10)), sys.version_info.major)", "silent": false, "store_history": true,
				"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": true},
		}
		raw, err := json.Marshal(execute)
		Expect(err).NotTo(HaveOccurred())
		Expect(ws.Write(wctx, websocket.MessageText, raw)).To(Succeed())

		// Read the kernel's answers to this request: the printed line, then
		// the reply, and the kernel back to idle.
		var out, replyStatus string
		idle := false
		for replyStatus == "" || !idle {
			_, data, err := ws.Read(wctx)
			Expect(err).NotTo(HaveOccurred(), "output so far %q", out)
			var msg struct {
				Header struct {
					MsgType string `json:"msg_type"`
				} `json:"header"`
				ParentHeader struct {
					MsgID string `json:"msg_id"`
				} `json:"parent_header"`
				Content map[string]any `json:"content"`
			}
			Expect(json.Unmarshal(data, &msg)).To(Succeed())
			if msg.ParentHeader.MsgID != msgID {
				continue
			}
			switch msg.Header.MsgType {
			case "stream":
				out += fmt.Sprint(msg.Content["text"])
			case "error":
				Fail(fmt.Sprintf("the cell raised %v: %v", msg.Content["ename"], msg.Content["evalue"]))
			case "execute_reply":
				replyStatus = fmt.Sprint(msg.Content["status"])
			case "status":
				idle = msg.Content["execution_state"] == "idle"
			}
		}
		Expect(replyStatus).To(Equal("ok"))
		Expect(out).To(Equal("45 3\n"))
		Expect(ws.Close(websocket.StatusNormalClosure, "done")).To(Succeed())
	})

	It("is culled once idle: the kernel, then the server, and the state says so", func() {
		// With no client connected, the kernel is culled after the idle time,
		// then the server, idle for as long, is shut down.
		var nb notebook
		Eventually(func(g Gomega) {
			nb = learnerNotebook()
			g.Expect(nb.State).To(Equal("CULLED"))
		}).WithTimeout(time.Minute + 4*notebookIdle).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(nb.Message).To(Equal("the server shut down after " + notebookIdle.String() + " without activity"))
		Expect(nb.URL).To(BeNil())
		_, err := net.DialTimeout("tcp", nbURL.Host, time.Second)
		Expect(err).To(HaveOccurred(), "the server still listens")
		GinkgoWriter.Printf("notebook culled %s after it was asked for\n", time.Since(started).Round(time.Second))

		// The learner's workspace keeps the starter notebook for the next server.
		ws, _ := filepath.Glob(filepath.Join(opts.DataDir, "notebooks", platform.ProjectID, "*", "starter.ipynb"))
		Expect(ws).To(HaveLen(1))
	})

	It("starts anew when asked again, and the spawn answers what the learner says", func() {
		var nb notebook
		Expect(api.Do(ctx, http.MethodPost, path, nil, &nb)).To(Succeed())
		Expect(nb.State).To(BeElementOf("STARTING", "RUNNING"), "%+v", nb)
		if rec := learnerNotebook(); rec.State == nb.State {
			Expect(rec.Message).To(Equal(nb.Message))
		}
		Eventually(func(g Gomega) {
			g.Expect(learnerNotebook().State).To(Equal("RUNNING"))
		}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})
})

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }
