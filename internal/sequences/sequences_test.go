package sequences

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
