package slimcache_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/slimcache"
)

// BenchmarkInformerMemory measures the heap a started cache holds once its
// informer of Batches has synced, with and without the trimming transform,
// over the same 40 batches (a 256 KiB sequence and two jobs' 128 KiB ones
// each: 20 MiB of payload). The trimmed figure is mostly the informer's
// fixed cost. Run with KUBEBUILDER_ASSETS set:
//
//	go test ./internal/slimcache -run '^$' -bench InformerMemory -benchtime 1x
func BenchmarkInformerMemory(b *testing.B) {
	env, err := controlplane.New()
	if err != nil {
		b.Skip(err)
	}
	cfg, err := env.Start()
	if err != nil {
		b.Skip(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	c, err := client.New(cfg, client.Options{Scheme: controlplane.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	const n, seqBytes = 40, 256 << 10
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		seq := fmt.Sprintf(`{"version":"1","name":"%d","pad":"%s"}`, i, strings.Repeat("x", seqBytes))
		bt := &quantumv1alpha1.Batch{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("b%d", i)},
			Spec: quantumv1alpha1.BatchSpec{SequenceBuilder: seq, DeviceType: "EMU_FREE",
				Jobs: []quantumv1alpha1.InlineJob{{Runs: 1, Sequence: seq[:seqBytes/2]}, {Runs: 1, Sequence: seq[:seqBytes/2]}}}}
		if err := c.Create(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	held := func(opts cache.Options) float64 {
		opts.Scheme = controlplane.Scheme()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ca, err := cache.New(cfg, opts)
		if err != nil {
			b.Fatal(err)
		}
		cctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { _ = ca.Start(cctx) }()
		ca.WaitForCacheSync(cctx)
		var list quantumv1alpha1.BatchList
		if err := ca.List(cctx, &list); err != nil || len(list.Items) != n {
			b.Fatalf("listed %d batches: %v", len(list.Items), err)
		}
		list = quantumv1alpha1.BatchList{}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(ca)
		return float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	}
	for range b.N {
		plain := held(cache.Options{})
		trimmed := held(slimcache.Options(cache.Options{}))
		b.ReportMetric(plain, "MiB-plain")
		b.ReportMetric(trimmed, "MiB-trimmed")
		b.ReportMetric(plain/trimmed, "ratio")
	}
}
