package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/usecase"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

var _ = Describe("Learning resources", func() {
	It("applies the shipped example use cases and the workload image mapping", func() {
		sys := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tweezer-system"}}
		if err := k8s.Create(ctx, sys); err != nil {
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "%v", err)
		}
		for _, f := range []string{"config/usecases/examples.yaml", "config/workloads/images.yaml"} {
			raw, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), f))
			Expect(err).NotTo(HaveOccurred())
			for _, doc := range strings.Split(string(raw), "\n---\n") {
				obj := &unstructured.Unstructured{}
				Expect(utilyaml.Unmarshal([]byte(doc), &obj.Object)).To(Succeed(), f)
				Expect(k8s.Patch(ctx, obj, client.Apply, client.FieldOwner("learning-test"))).To(Succeed(), f)
			}
		}
		examples := &v1.UseCaseList{}
		Expect(k8s.List(ctx, examples, client.InNamespace("tweezer-system"))).To(Succeed())
		Expect(examples.Items).To(HaveLen(2))
		for _, u := range examples.Items {
			Expect(u.Spec.Example).To(BeTrue())
			Expect(u.Spec.ValidationStatus).To(Equal(v1.ValidationApproved))
		}
		images := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: "tweezer-system", Name: "tweezer-workload-images"}, images)).To(Succeed())
		for _, wt := range []string{"algorithm_dqgm", "qadence_circuit", "algorithm_pde_basf", "algorithm_pde_equality", "algorithm_qel_posco"} {
			Expect(images.Data).To(HaveKey(wt + ".pulser_basic"))
		}
	})

	It("moves a UseCase only along the review workflow, exactly as the usecase package says", func() {
		ns := newNamespace()
		for _, from := range v1.ValidationStatuses {
			for _, to := range v1.ValidationStatuses {
				uc := &v1.UseCase{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "uc-" + rand.String(8)},
					Spec:       v1.UseCaseSpec{UserID: "alice", Title: "t", ValidationStatus: from},
				}
				Expect(k8s.Create(ctx, uc)).To(Succeed())
				uc.Spec.ValidationStatus = to
				err := k8s.Update(ctx, uc)
				if usecase.Legal(from, to) {
					Expect(err).NotTo(HaveOccurred(), "%s → %s", from, to)
				} else {
					expectInvalid(err, "spec.validationStatus", "illegal validation status transition")
				}
			}
		}
	})

	It("defaults a UseCase to DRAFT and refuses an empty title or unknown status", func() {
		ns := newNamespace()
		uc := &v1.UseCase{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "uc"},
			Spec: v1.UseCaseSpec{UserID: "alice", Title: "t"}}
		Expect(k8s.Create(ctx, uc)).To(Succeed())
		Expect(uc.Spec.ValidationStatus).To(Equal(v1.ValidationDraft))

		bad := &v1.UseCase{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"},
			Spec: v1.UseCaseSpec{UserID: "alice", Title: ""}}
		expectInvalid(k8s.Create(ctx, bad), "spec.title", "at least 1")
		bad.Spec.Title, bad.Spec.ValidationStatus = "t", "DONE"
		expectInvalid(k8s.Create(ctx, bad), "spec.validationStatus", "Unsupported value")
	})

	It("keeps a Learner's user and package immutable and refuses unknown packages and bad notebook names", func() {
		ns := newNamespace()
		l := &v1.Learner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1.LearnerName("alice", "VQPU")},
			Spec: v1.LearnerSpec{UserID: "alice", Package: "VQPU",
				Progress: &apiextensionsv1.JSON{Raw: []byte(`{"chapter":2}`)}}}
		Expect(k8s.Create(ctx, l)).To(Succeed())
		l.Spec.Package = "LEARN_BY_CODING"
		expectInvalid(k8s.Update(ctx, l), "spec.package", "package is immutable")

		bad := &v1.Learner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"},
			Spec: v1.LearnerSpec{UserID: "bob", Package: "CHEMISTRY"}}
		expectInvalid(k8s.Create(ctx, bad), "spec.package", "Unsupported value")
		bad.Spec.Package = "VQPU"
		bad.Spec.Notebooks = []v1.LearnerNotebook{{Name: "Intro_1", RequestTime: metav1.Now()}}
		expectInvalid(k8s.Create(ctx, bad), "spec.notebooks[0].name", "should match")
	})

	It("keeps a Quiz's user and quiz id immutable and derives one name per user and quiz", func() {
		ns := newNamespace()
		q := &v1.Quiz{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1.QuizName("alice", "42")},
			Spec: v1.QuizSpec{UserID: "alice", QuizID: "42", Data: apiextensionsv1.JSON{Raw: []byte(`[1,2]`)}}}
		Expect(k8s.Create(ctx, q)).To(Succeed())
		q.Spec.QuizID = "43"
		expectInvalid(k8s.Update(ctx, q), "spec.quizID", "quizID is immutable")
		Expect(v1.QuizName("alice", "42")).NotTo(Equal(v1.QuizName("alice", "43")))
		Expect(v1.QuizName("alice", "42")).NotTo(Equal(v1.QuizName("bob", "42")))
		Expect(v1.LearnerName("alice", "VQPU")).NotTo(Equal(v1.LearnerName("alice", "LEARN_BY_CODING")))

		dup := &v1.Quiz{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1.QuizName("alice", "42")},
			Spec: v1.QuizSpec{UserID: "alice", QuizID: "42", Data: apiextensionsv1.JSON{Raw: []byte(`{}`)}}}
		Expect(apierrors.IsAlreadyExists(k8s.Create(ctx, dup))).To(BeTrue())
	})

	It("prints the columns of a use case", func() {
		ns := newNamespace()
		uc := &v1.UseCase{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cols"},
			Spec: v1.UseCaseSpec{UserID: "alice", Title: "Portfolio", ValidationStatus: v1.ValidationUnderReview}}
		Expect(k8s.Create(ctx, uc)).To(Succeed())
		table := getTable(fmt.Sprintf("/apis/%s/namespaces/%s/usecases", v1.GroupVersion, ns))
		Expect(table.columns).To(Equal([]string{"Name", "Title", "Status", "User", "Example", "Reviewed", "Age"}))
		Expect(table.rows[0][:4]).To(Equal([]any{"cols", "Portfolio", "UNDER_REVIEW", "alice"}))
	})
})
