package v1alpha1_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/usecase"
)

var _ = Describe("Learning resources", func() {
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

	It("serves short names that clash with no built-in, in the tweezer category", func() {
		_, lists, err := disco.ServerGroupsAndResources()
		Expect(err).NotTo(HaveOccurred())
		ours := map[string]metav1.APIResource{}
		builtin := map[string]bool{}
		for _, l := range lists {
			gv, err := schema.ParseGroupVersion(l.GroupVersion)
			Expect(err).NotTo(HaveOccurred())
			for _, r := range l.APIResources {
				if gv.Group == v1.GroupVersion.Group {
					ours[r.Name] = r
					continue
				}
				builtin[r.Name], builtin[r.SingularName] = true, true
				for _, s := range r.ShortNames {
					builtin[s] = true
				}
			}
		}
		for _, name := range []string{"learners", "usecases", "quizzes"} {
			Expect(ours).To(HaveKey(name))
			Expect(ours[name].Namespaced).To(BeTrue(), name)
			Expect(ours[name].Categories).To(ContainElement("tweezer"), name)
			Expect(ours[name].ShortNames).NotTo(BeEmpty(), name)
			for _, s := range ours[name].ShortNames {
				Expect(builtin).NotTo(HaveKey(s), "short name %q of %s", s, name)
			}
		}
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
