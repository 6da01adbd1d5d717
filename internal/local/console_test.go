package local_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/local"
)

// secondProjectID is a project the demo user does not belong to.
const secondProjectID = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"

// bar is a histogram bar as the page draws it.
type bar struct {
	Bitstring string  `json:"b"`
	Count     int64   `json:"c"`
	Height    float64 `json:"h"`
	Other     bool    `json:"o"`
}

// The web console in headless Chromium (Debian's, installed by
// hack/chromium/install.sh when missing), against the platform of this suite:
// each spec opens its own tab, so its sessionStorage starts empty.
var _ = Describe("The web console in a real browser", Ordered, func() {
	var (
		browser   context.Context
		artifacts string
	)

	BeforeAll(func() {
		install := exec.Command(filepath.Join(controlplane.RepoRoot(), "hack", "chromium", "install.sh"))
		var stderr strings.Builder
		install.Stderr = &stderr
		out, err := install.Output()
		Expect(err).NotTo(HaveOccurred(), "no headless Chromium for the console's browser tests: %s", stderr.String())
		chrome := strings.TrimSpace(string(out))
		Expect(chrome).NotTo(BeEmpty(), "hack/chromium/install.sh printed no browser path")

		artifacts = filepath.Join(controlplane.RepoRoot(), ".tweezer", "test-artifacts", "console")
		Expect(os.MkdirAll(artifacts, 0o755)).To(Succeed())

		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1280, 1000),
			chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		DeferCleanup(cancelAlloc)
		var cancelBrowser context.CancelFunc
		browser, cancelBrowser = chromedp.NewContext(alloc)
		DeferCleanup(cancelBrowser)
		Expect(chromedp.Do(browser)).To(Succeed(), "starting %s", chrome)
	})

	// tab opens the console in a new tab; every action on it is bounded by timeout.
	tab := func(timeout time.Duration) context.Context {
		GinkgoHelper()
		t, cancel := chromedp.NewContext(browser)
		DeferCleanup(cancel)
		// The tab opens on its first action: no timeout there (it would close it).
		Expect(chromedp.Do(t, chromedp.Navigate(platform.FacadeURL+"/console"))).To(Succeed())
		t, cancelT := context.WithTimeout(t, timeout)
		DeferCleanup(cancelT)
		Expect(chromedp.Do(t, chromedp.WaitVisible(chromedp.ID("token")))).To(Succeed())
		return t
	}
	signIn := func(t context.Context, token string) {
		GinkgoHelper()
		Expect(chromedp.Do(t,
			chromedp.SetValue(chromedp.ID("token"), token),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.CSS(`#batches table, #no-batches`)),
		)).To(Succeed())
	}
	open := func(t context.Context, hash string) {
		GinkgoHelper()
		_, err := chromedp.Run(t, chromedp.Evaluate[string](fmt.Sprintf("location.hash = %q", hash)))
		Expect(err).NotTo(HaveOccurred())
	}
	screenshot := func(t context.Context, name string) {
		GinkgoHelper()
		// The page shows no error banner (a bug in the page would show there).
		banner, err := chromedp.Run(t, chromedp.Evaluate[string](`document.getElementById('error').hidden ? '' : document.getElementById('error').textContent`))
		Expect(err).NotTo(HaveOccurred())
		Expect(banner).To(BeEmpty())
		png, err := chromedp.Run(t, chromedp.FullScreenshot(100))
		Expect(err).NotTo(HaveOccurred())
		path := filepath.Join(artifacts, name)
		Expect(os.WriteFile(path, png, 0o644)).To(Succeed())
		AddReportEntry("screenshot", path)
	}

	It("refuses a bad token with the sign-in error, and stores nothing", func() {
		t := tab(time.Minute)
		Expect(chromedp.Do(t,
			chromedp.SetValue(chromedp.ID("token"), "not-a-token"),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("signin-error")),
		)).To(Succeed())
		msg, err := chromedp.Run(t, chromedp.Text(chromedp.ID("signin-error")))
		Expect(err).NotTo(HaveOccurred())
		stored, err := chromedp.Run(t, chromedp.Evaluate[*string](`sessionStorage.getItem('tweezer.token')`))
		Expect(err).NotTo(HaveOccurred())
		Expect(msg).To(ContainSubstring("HTTP 401"))
		Expect(msg).To(ContainSubstring("the bearer token is invalid or expired"))
		Expect(stored).To(BeNil())
	})

	It("signs in, shows the example batch reach DONE, and draws one bar per bitstring with heights matching the counts", func() {
		b, err := api.SubmitExample(ctx, platform.ProjectID)
		Expect(err).NotTo(HaveOccurred())
		t := tab(4 * time.Minute)
		signIn(t, platform.Token)
		project, err := chromedp.Run(t, chromedp.Value(chromedp.ID("project")))
		Expect(err).NotTo(HaveOccurred())
		Expect(chromedp.Do(t,
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-batch=%q] .badge`, b.ID))),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-batch=%q] a`, b.ID))),
			chromedp.WaitVisible(chromedp.ID("batch-id")),
			// The page polls the batch until it ends.
			chromedp.WaitVisible(chromedp.CSS(`h1 .badge[data-status="DONE"]`)),
		)).To(Succeed())
		Expect(project).To(Equal(platform.ProjectID), "the project is picked from the token's memberships")

		done := &local.Batch{}
		Expect(api.Do(ctx, http.MethodGet, "/api/v1/batches/"+b.ID, nil, done)).To(Succeed())
		Expect(done.Jobs).To(HaveLen(3))
		for _, j := range done.Jobs {
			status, err := chromedp.Run(t, chromedp.AttributeValue(chromedp.CSS(fmt.Sprintf(`tr[data-job=%q] .badge`, j.ID)), "data-status"))
			Expect(err).NotTo(HaveOccurred())
			Expect(status.Value).To(Equal("DONE"))
			bars := histogramBars(t, j.ID)
			Expect(bars).To(HaveLen(len(j.Result)), "one bar per distinct bitstring of job %d's counter", j.CreationOrder)
			var maxBar bar
			for _, br := range bars {
				Expect(br.Other).To(BeFalse())
				Expect(j.Result).To(HaveKeyWithValue(br.Bitstring, br.Count))
				if br.Count > maxBar.Count {
					maxBar = br
				}
			}
			for _, br := range bars {
				// Heights are proportional to counts (to the drawing's 0.01 px).
				Expect(br.Height*float64(maxBar.Count)).To(BeNumerically("~", maxBar.Height*float64(br.Count), 0.01*float64(maxBar.Count)+0.01), "bar %s", br.Bitstring)
			}
			Expect(sort.SliceIsSorted(bars, func(a, b int) bool { return bars[a].Count > bars[b].Count })).To(BeTrue(), "sorted by count at first")
		}

		// Sorting by bitstring reorders the same bars.
		first := done.Jobs[0].ID
		_, err = chromedp.Run(t, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const s = document.querySelector('#job-%s select.sort'); s.value = 'bitstring'; return s.dispatchEvent(new Event('change')); })()`, first)))
		Expect(err).NotTo(HaveOccurred())
		bars := histogramBars(t, first)
		Expect(bars).To(HaveLen(len(done.Jobs[0].Result)))
		Expect(sort.SliceIsSorted(bars, func(a, b int) bool { return bars[a].Bitstring < bars[b].Bitstring })).To(BeTrue(), "%v", bars)
		screenshot(t, "example-batch.png")
	})

	It("draws occupation over time and the correlation matrix when the results carry them", func() {
		raw, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "internal/emulationconfig/testdata/pulser_config.json"))
		Expect(err).NotTo(HaveOccurred())
		cfg := strings.Replace(string(raw), `"default_evaluation_times": [0.25, 0.5, 1.0]`, `"default_evaluation_times": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]`, 1)
		Expect(cfg).NotTo(Equal(string(raw)), "the fixture's evaluation times changed: update this spec")
		created := &local.Batch{}
		Expect(api.Do(ctx, http.MethodPost, "/api/v1/batches", map[string]any{
			"project_id": platform.ProjectID, "sequence_builder": local.ExampleSequence, "device_type": "EMU_FREE",
			"backend_configuration": strings.TrimSpace(cfg), "tags": []string{"observables", "console"},
			"jobs": []map[string]any{{"runs": 200, "variables": map[string]any{"t": []int{400}}}},
		}, created)).To(Succeed())
		waitDone(created.ID)

		t := tab(2 * time.Minute)
		signIn(t, platform.Token)
		open(t, "#/batch/"+created.ID)
		Expect(chromedp.Do(t,
			chromedp.WaitVisible(chromedp.CSS(`.occupation svg`)),
			chromedp.WaitVisible(chromedp.CSS(`.correlation svg`)),
		)).To(Succeed())
		Expect(count(t, `.occupation polyline.series`)).To(Equal(4), "one line per atom")
		Expect(count(t, `.correlation rect.cell`)).To(Equal(16), "a 4×4 matrix")
		Expect(count(t, `.register circle.atom`)).To(Equal(4), "the register's four atoms")
		screenshot(t, "observables-batch.png")
	})

	It("cancels a pending QPU batch from the page, after showing why it waits", func() {
		// With the only QPU inactive, a FRESNEL batch stays PENDING.
		fresnel := &v1.Device{}
		Expect(platform.Admin.Get(ctx, client.ObjectKey{Name: "fresnel"}, fresnel)).To(Succeed())
		Expect(fresnel.Spec.IsEmulator).To(BeFalse())
		setActive := func(active bool) {
			orig := fresnel.DeepCopy()
			fresnel.Spec.Active = &active
			Expect(platform.Admin.Patch(ctx, fresnel, client.MergeFrom(orig))).To(Succeed())
		}
		setActive(false)
		DeferCleanup(func() { setActive(true) })

		b := &local.Batch{}
		Expect(api.Do(ctx, http.MethodPost, "/api/v1/batches", map[string]any{
			"project_id": platform.ProjectID, "sequence_builder": local.ExampleSequence, "device_type": "FRESNEL",
			"jobs": []map[string]any{{"runs": 50, "variables": map[string]any{"t": []int{100}}}},
		}, b)).To(Succeed())

		t := tab(2 * time.Minute)
		signIn(t, platform.Token)
		open(t, "#/batch/"+b.ID)
		Expect(chromedp.Do(t,
			chromedp.WaitVisible(chromedp.CSS(`h1 .badge[data-status="PENDING"]`)),
			chromedp.WaitVisible(chromedp.ID("queue-position")),
		)).To(Succeed())
		reason, err := chromedp.Run(t, chromedp.Text(chromedp.ID("queue-reason")))
		Expect(err).NotTo(HaveOccurred())
		Expect(reason).To(ContainSubstring("NoActiveDevice"))
		Expect(reason).To(ContainSubstring("every device of type FRESNEL is inactive"))
		Expect(chromedp.Do(t,
			chromedp.Click(chromedp.ID("cancel-batch")),
			chromedp.WaitVisible(chromedp.CSS(`#cancel-batch[data-armed="true"]`)),
			chromedp.Click(chromedp.ID("cancel-batch")),
			chromedp.WaitVisible(chromedp.CSS(`h1 .badge[data-status="CANCELED"]`)),
		)).To(Succeed())
		got := &local.Batch{}
		Expect(api.Do(ctx, http.MethodGet, "/api/v1/batches/"+b.ID, nil, got)).To(Succeed())
		Expect(got.Status).To(Equal("CANCELED"))
	})

	It("never shows a second project's batch", func() {
		token2, err := platform.AddProject(ctx, secondProjectID)
		Expect(err).NotTo(HaveOccurred())
		other := &local.Client{BaseURL: platform.FacadeURL, Token: token2}
		theirs := &local.Batch{}
		Expect(other.Do(ctx, http.MethodPost, "/api/v1/batches", map[string]any{
			"project_id": secondProjectID, "sequence_builder": local.ExampleSequence, "device_type": "EMU_FREE", "jobs": []any{},
			"tags": []string{"second-project"},
		}, theirs)).To(Succeed())

		t := tab(time.Minute)
		signIn(t, platform.Token)
		options, err := chromedp.Run(t, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#project option')].map(o => o.value)`))
		Expect(err).NotTo(HaveOccurred())
		Expect(options).To(Equal([]string{platform.ProjectID}))
		Expect(count(t, `#batches tbody tr`)).To(BeNumerically(">", 0), "the demo project's own batches are listed")
		Expect(count(t, fmt.Sprintf(`tr[data-batch=%q]`, theirs.ID))).To(BeZero())

		// Asked by id, it is unknown: a readable 404, not a blank page.
		open(t, "#/batch/"+theirs.ID)
		Expect(chromedp.Do(t, chromedp.WaitVisible(chromedp.ID("error")))).To(Succeed())
		msg, err := chromedp.Run(t, chromedp.Text(chromedp.ID("error")))
		Expect(err).NotTo(HaveOccurred())
		Expect(msg).To(ContainSubstring("Not found (HTTP 404)"))
		Expect(msg).To(ContainSubstring(theirs.ID))

		// A project member gets no UP/DOWN switch.
		open(t, "#/devices")
		Expect(chromedp.Do(t, chromedp.WaitVisible(chromedp.CSS(`tr[data-device="emu-c"]`)))).To(Succeed())
		Expect(count(t, `[id^="switch-"]`)).To(BeZero())
	})

	It("lets a superuser switch a device DOWN and UP", func() {
		dev := &v1.Device{}
		DeferCleanup(func() {
			d := &v1.Device{}
			Expect(platform.Admin.Get(ctx, client.ObjectKey{Name: "emu-c"}, d)).To(Succeed())
			orig := d.DeepCopy()
			d.Spec.Availability = v1.DeviceUp
			Expect(platform.Admin.Patch(ctx, d, client.MergeFrom(orig))).To(Succeed())
		})
		t := tab(time.Minute)
		signIn(t, superuserToken())
		role, err := chromedp.Run(t, chromedp.Text(chromedp.ID("role")))
		Expect(err).NotTo(HaveOccurred())
		Expect(role).To(Equal("superuser"))
		open(t, "#/devices")
		Expect(chromedp.Do(t,
			chromedp.WaitVisible(chromedp.CSS(`tr[data-device="emu-c"] .badge[data-status="UP"]`)),
			chromedp.Click(chromedp.ID("switch-emu-c")),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-device="emu-c"] .badge[data-status="DOWN"]`)),
		)).To(Succeed())
		Expect(platform.Admin.Get(ctx, client.ObjectKey{Name: "emu-c"}, dev)).To(Succeed())
		Expect(dev.Spec.Availability).To(Equal(v1.DeviceDown))
		Expect(chromedp.Do(t,
			chromedp.Click(chromedp.ID("switch-emu-c")),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-device="emu-c"] .badge[data-status="UP"]`)),
		)).To(Succeed())
		Expect(platform.Admin.Get(ctx, client.ObjectKey{Name: "emu-c"}, dev)).To(Succeed())
		Expect(dev.Spec.Availability).To(Equal(v1.DeviceUp))
	})
})

// superuserToken binds a new service account to tweezer-superuser and returns its token.
func superuserToken() string {
	GinkgoHelper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: local.SystemNamespace, Name: "console-ops"}}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "console-ops-superuser"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tweezer-superuser"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name}},
	}
	for _, o := range []client.Object{sa, crb} {
		if err := platform.Admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
	// kube-apiserver's RBAC authorizer reads bindings from its own informer:
	// wait until it grants the new binding before signing in with it.
	Eventually(func() bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "update", Group: v1.GroupVersion.Group, Resource: "devices",
			},
		}}
		return platform.Admin.Create(ctx, sar) == nil && sar.Status.Allowed
	}, 10*time.Second, 20*time.Millisecond).Should(BeTrue())
	cfg, err := clientcmd.BuildConfigFromFlags("", platform.Kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// histogramBars reads the bars of a job's histogram.
func histogramBars(t context.Context, jobID string) []bar {
	GinkgoHelper()
	js := fmt.Sprintf(`[...document.querySelectorAll('.histogram[data-job=%q] rect.bar')].map(r => ({b: r.dataset.bitstring || '', c: +r.dataset.count, h: +r.getAttribute('height'), o: r.dataset.other === 'true'}))`, jobID)
	bars, err := chromedp.Run(t, chromedp.Evaluate[[]bar](js))
	Expect(err).NotTo(HaveOccurred())
	for _, b := range bars {
		Expect(math.IsNaN(b.Height)).To(BeFalse())
	}
	return bars
}

// count is how many elements of the page match a CSS selector.
func count(t context.Context, css string) int {
	GinkgoHelper()
	n, err := chromedp.Run(t, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, css)))
	Expect(err).NotTo(HaveOccurred())
	return n
}
