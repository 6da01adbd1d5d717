package controllers_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tweezer-dev/tweezer/controllers"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/webhook"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/devices"
	"github.com/tweezer-dev/tweezer/runners/emulator"
	"github.com/tweezer-dev/tweezer/runners/qpu"
)

// These specs run the manager against a real kube-apiserver and etcd, with
// the Process executor running the real runner binary (built once) and the
// real emulator; QPU batches go to the built-in emulated Fresnel gateway.

const (
	managerNamespace = "tweezer-system"
	leaseDuration    = 2 * time.Second
	maxAttempts      = 2
)

var (
	// allowPrivateWebhooks lets the suite's webhooks reach its loopback servers.
	allowPrivateWebhooks = true
	// webhookTimeout and webhookBackoff tune the webhook sender of the
	// managers a spec starts.
	webhookTimeout = 10 * time.Second
	webhookBackoff = 100 * time.Millisecond

	env        *controlplane.Environment
	cfg        *rest.Config
	k8s        client.Client
	ctx        = context.Background()
	runnerBin  string
	runnerKube string
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Controllers suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	dir, err := os.MkdirTemp("", "tweezer-controllers-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)

	runnerBin = filepath.Join(dir, "runner")
	build := exec.Command("go", "build", "-o", runnerBin, "./cmd/runner")
	build.Dir = controlplane.RepoRoot()
	build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
	Expect(build.Run()).To(Succeed(), "building the runner binary")

	env, err = controlplane.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	k8s, err = client.New(cfg, client.Options{Scheme: controlplane.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	user, err := env.AddUser(envtest.User{Name: "runner", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kc, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	runnerKube = filepath.Join(dir, "kubeconfig")
	Expect(os.WriteFile(runnerKube, kc, 0o600)).To(Succeed())

	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}})).To(Succeed())
})

// manager is one running manager of the suite.
type manager struct {
	exec executor.Executor
	// cache is the manager's informer cache, as its reconcilers read it.
	cache  cache.Cache
	cancel context.CancelFunc
	done   chan struct{}
}

// startManager runs a manager with the Process executor (or the given one)
// until the spec ends or stop is called.
func startManager(execs ...executor.Executor) *manager {
	GinkgoHelper()
	return runManager(cfg, managerConfig(execs...))
}

// managerConfig is the configuration startManager runs a manager with.
func managerConfig(execs ...executor.Executor) controllers.Config {
	var ex executor.Executor
	if len(execs) > 0 {
		ex = execs[0]
	} else {
		ex = executor.NewProcess(runnerBin, runnerKube, GinkgoWriter)
	}
	sender := webhook.NewSender(webhook.Policy{AllowPrivate: allowPrivateWebhooks, AnyPort: true})
	sender.Timeout = webhookTimeout
	sender.BaseBackoff = webhookBackoff
	sender.MaxAttempts = 3
	return controllers.Config{
		Options: controllers.Options{
			Namespace: managerNamespace, LeaseDuration: leaseDuration,
			ResyncInterval: 250 * time.Millisecond, MaxAttempts: maxAttempts,
			IdleRelease: time.Second,
		},
		Executor: ex,
		Webhooks: sender,
	}
}

// runManager runs a manager on the control plane of restCfg with conf until
// the spec ends or stop is called.
func runManager(restCfg *rest.Config, conf controllers.Config) *manager {
	GinkgoHelper()
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 controlplane.Scheme(),
		Cache:                  controllers.CacheOptions(),
		NewClient:              controllers.NewClient,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptrTo(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	if p, ok := conf.Executor.(*executor.Pod); ok {
		p.Client, p.APIReader = mgr.GetClient(), mgr.GetAPIReader()
	}
	mctx, cancel := context.WithCancel(ctx)
	Expect(controllers.Setup(mctx, mgr, conf)).To(Succeed())
	m := &manager{exec: conf.Executor, cache: mgr.GetCache(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(m.done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	DeferCleanup(m.stop)
	return m
}

func (m *manager) stop() {
	m.cancel()
	<-m.done
}

// gateway serves an emulated Fresnel QPU with the real emulator; each shot
// takes shotTime, so QPU jobs last as long as a spec needs.
func gateway(shotTime time.Duration) string {
	GinkgoHelper()
	specs, ok := devices.Specs("FRESNEL")
	Expect(ok).To(BeTrue())
	gw := &qpu.Gateway{Engine: fresnelEngine, Specs: specs, ShotTime: shotTime}
	gctx, cancel := context.WithCancel(ctx)
	gw.Start(gctx)
	srv := httptest.NewServer(gw)
	DeferCleanup(func() { cancel(); srv.Close() })
	return srv.URL
}

// fresnelEngine is the engine of the built-in gateway: the emulator set up as EMU_FRESNEL.
var fresnelEngine = emulator.Engine{DeviceType: "EMU_FRESNEL"}

func ptrTo[T any](v T) *T { return &v }
