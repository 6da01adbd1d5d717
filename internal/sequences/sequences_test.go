package sequences

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

func batch(seq string, own ...string) *quantumv1alpha1.Batch {
	b := &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{Namespace: "p", Name: "b1"},
		Spec:       quantumv1alpha1.BatchSpec{SequenceBuilder: seq},
	}
	for _, s := range own {
		b.Spec.Jobs = append(b.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: 1, Sequence: s})
	}
	return b
}

func TestSplitKeepsSmallSequencesInTheSpec(t *testing.T) {
	b := batch(strings.Repeat("s", 100), "", strings.Repeat("o", 100))
	if cm := Split(b, 200); cm != nil || b.Spec.SequencesFrom != "" || len(b.Spec.SequenceBuilder) != 100 {
		t.Fatalf("200 bytes of sequences with 200 inline: moved (%v, %q)", cm != nil, b.Spec.SequencesFrom)
	}
	if cm := Split(b, -1); cm != nil {
		t.Fatal("a negative limit moved sequences")
	}
	huge := batch(strings.Repeat("s", corev1.MaxSecretSize), "", "x")
	if cm := Split(huge, 0); cm != nil || huge.Spec.SequenceBuilder == "" {
		t.Fatal("more than a ConfigMap holds was moved")
	}
}

func TestSplitMovesEverySequenceAndTheSetReadsThemBack(t *testing.T) {
	b := batch(strings.Repeat("s", 100), "", strings.Repeat("o", 100))
	cm := Split(b, 199)
	if cm == nil {
		t.Fatal("201 bytes of sequences with 199 inline stayed in the spec")
	}
	if b.Spec.SequencesFrom != "b1-sequences" || cm.Name != "b1-sequences" || cm.Namespace != "p" {
		t.Fatalf("sequencesFrom %q, ConfigMap %s/%s", b.Spec.SequencesFrom, cm.Namespace, cm.Name)
	}
	if b.Spec.SequenceBuilder != "" || b.Spec.Jobs[1].Sequence != "" {
		t.Fatal("the spec still holds a sequence")
	}
	if cm.Immutable == nil || !*cm.Immutable || cm.Labels[quantumv1alpha1.BatchLabel] != "b1" {
		t.Fatalf("ConfigMap immutable %v, labels %v", cm.Immutable, cm.Labels)
	}
	if len(cm.Data) != 2 || cm.Data[BatchKey] != strings.Repeat("s", 100) || cm.Data[JobKey(1)] != strings.Repeat("o", 100) {
		t.Fatalf("data keys %v", cm.Data)
	}
	b.UID = "u1"
	Own(cm, b)
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != "u1" || cm.OwnerReferences[0].Kind != "Batch" {
		t.Fatalf("owner references %v", cm.OwnerReferences)
	}

	set := Set{spec: &b.Spec, data: cm.Data}
	if set.Batch() != strings.Repeat("s", 100) || set.Job(0) != "" || set.Job(1) != strings.Repeat("o", 100) || set.Job(5) != "" {
		t.Fatalf("read back: batch %d bytes, jobs %q, %d bytes", len(set.Batch()), set.Job(0), len(set.Job(1)))
	}
	// What a later version of the spec holds wins (a job added with its own).
	later := b.DeepCopy()
	later.Spec.Jobs = append(later.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: 1, Sequence: "added"})
	if got := set.For(later).Job(2); got != "added" {
		t.Fatalf("job 2 of the later spec: %q", got)
	}
	if JobIndex(3) != 2 || JobIndex(0) != -1 {
		t.Fatal("JobIndex")
	}
}

func workload(config string) *quantumv1alpha1.Workload {
	return &quantumv1alpha1.Workload{
		ObjectMeta: metav1.ObjectMeta{Namespace: "p", Name: "w1", UID: "wu"},
		Spec:       quantumv1alpha1.WorkloadSpec{Config: &apiextensionsv1.JSON{Raw: []byte(config)}},
	}
}

func TestSplitWorkloadMovesOnlyALargeConfig(t *testing.T) {
	small := workload(`{"runs":1}`)
	if cm := SplitWorkload(small, 10); cm != nil || small.Spec.Config == nil || small.Spec.ConfigFrom != "" {
		t.Fatalf("10 bytes with 10 inline: moved (%v, %q)", cm != nil, small.Spec.ConfigFrom)
	}
	if cm := SplitWorkload(workload(`{"runs":100}`), -1); cm != nil {
		t.Fatal("a negative limit moved the config")
	}
	if cm := SplitWorkload(&quantumv1alpha1.Workload{}, 0); cm != nil {
		t.Fatal("a workload without a config got a ConfigMap")
	}
	huge := workload(`"` + strings.Repeat("x", corev1.MaxSecretSize) + `"`)
	if cm := SplitWorkload(huge, 0); cm != nil || huge.Spec.Config == nil {
		t.Fatal("more than a ConfigMap holds was moved")
	}

	w := workload(`{"runs":100}`)
	cm := SplitWorkload(w, 11)
	if cm == nil || w.Spec.Config != nil || w.Spec.ConfigFrom != "w1-config" || cm.Name != "w1-config" || cm.Namespace != "p" {
		t.Fatalf("12 bytes with 11 inline: ConfigMap %v, spec %+v", cm, w.Spec)
	}
	if cm.Immutable == nil || !*cm.Immutable || len(cm.Data) != 1 || cm.Data[WorkloadKey] != `{"runs":100}` {
		t.Fatalf("ConfigMap immutable %v, data %v", cm.Immutable, cm.Data)
	}
	if Owns(w, cm) {
		t.Fatal("owned before OwnWorkload")
	}
	OwnWorkload(cm, w)
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].Kind != "Workload" || cm.OwnerReferences[0].Name != "w1" || !Owns(w, cm) {
		t.Fatalf("owner references %v", cm.OwnerReferences)
	}
}

// The spec's config needs no read, and wins over a ConfigMap.
func TestWorkloadConfigPrefersTheSpec(t *testing.T) {
	w := workload(`{"runs":3}`)
	w.Spec.ConfigFrom = "w1-config"
	if raw, err := WorkloadConfig(context.Background(), nil, w); err != nil || string(raw) != `{"runs":3}` {
		t.Fatalf("got %s, %v", raw, err)
	}
	if raw, err := WorkloadConfig(context.Background(), nil, &quantumv1alpha1.Workload{}); err != nil || raw != nil {
		t.Fatalf("neither config nor configFrom: %s, %v", raw, err)
	}
}
