package handlers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The cached quotas spare the live read only when every one leaves room for
// the write and a margin: as much again, and a tenth of its limit.
func TestRoomyQuotasLeaveAMargin(t *testing.T) {
	quota := func(hard, used map[corev1.ResourceName]int64) corev1.ResourceQuota {
		q := corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{}, Used: corev1.ResourceList{}}}
		for name, n := range hard {
			q.Status.Hard[name] = *resource.NewQuantity(n, resource.DecimalSI)
		}
		for name, n := range used {
			q.Status.Used[name] = *resource.NewQuantity(n, resource.DecimalSI)
		}
		return q
	}
	need := func(batches, jobs int64) map[corev1.ResourceName]int64 {
		return map[corev1.ResourceName]int64{batchesQuota: batches, jobsQuota: jobs}
	}
	limits := map[corev1.ResourceName]int64{batchesQuota: 1000, jobsQuota: 20000}
	for _, c := range []struct {
		name   string
		quotas []corev1.ResourceQuota
		need   map[corev1.ResourceName]int64
		want   bool
	}{
		{"no quota", nil, need(1, 5), true},
		{"far from both limits", []corev1.ResourceQuota{quota(limits, map[corev1.ResourceName]int64{batchesQuota: 10, jobsQuota: 50})}, need(1, 5), true},
		// 20,000 jobs: a margin of 2,000.
		{"jobs within a tenth of the limit", []corev1.ResourceQuota{quota(limits, map[corev1.ResourceName]int64{batchesQuota: 10, jobsQuota: 17996})}, need(1, 5), false},
		{"jobs just outside a tenth", []corev1.ResourceQuota{quota(limits, map[corev1.ResourceName]int64{batchesQuota: 10, jobsQuota: 17995})}, need(1, 5), true},
		// A large write needs room for itself twice.
		{"a write larger than a tenth", []corev1.ResourceQuota{quota(limits, map[corev1.ResourceName]int64{batchesQuota: 10, jobsQuota: 10000})}, need(1, 5001), false},
		{"a small quota", []corev1.ResourceQuota{quota(map[corev1.ResourceName]int64{jobsQuota: 3}, map[corev1.ResourceName]int64{jobsQuota: 0})}, need(1, 2), false},
		{"usage not computed yet", []corev1.ResourceQuota{quota(limits, nil)}, need(1, 5), false},
		{"a quota on other resources", []corev1.ResourceQuota{quota(map[corev1.ResourceName]int64{"pods": 1}, map[corev1.ResourceName]int64{"pods": 1})}, need(1, 5), true},
		{"one roomy quota and one full", []corev1.ResourceQuota{
			quota(limits, map[corev1.ResourceName]int64{batchesQuota: 0, jobsQuota: 0}),
			quota(map[corev1.ResourceName]int64{batchesQuota: 20}, map[corev1.ResourceName]int64{batchesQuota: 19}),
		}, need(1, 5), false},
		{"added jobs need no batch", []corev1.ResourceQuota{quota(map[corev1.ResourceName]int64{batchesQuota: 20, jobsQuota: 20000}, map[corev1.ResourceName]int64{batchesQuota: 20, jobsQuota: 10})}, need(0, 5), true},
	} {
		if got := roomy(c.quotas, c.need); got != c.want {
			t.Errorf("%s: roomy %v, want %v", c.name, got, c.want)
		}
	}
}
