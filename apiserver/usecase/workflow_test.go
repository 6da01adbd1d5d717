package usecase

import (
	"errors"
	"testing"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

func TestWorkflowMoves(t *testing.T) {
	legal := map[[2]v1.ValidationStatus]Actor{
		{v1.ValidationDraft, v1.ValidationUnderReview}:             Author,
		{v1.ValidationUnderReview, v1.ValidationReviewerDraft}:     Reviewer,
		{v1.ValidationUnderReview, v1.ValidationRequiringUpdate}:   Reviewer,
		{v1.ValidationUnderReview, v1.ValidationApproved}:          Reviewer,
		{v1.ValidationUnderReview, v1.ValidationRejected}:          Reviewer,
		{v1.ValidationReviewerDraft, v1.ValidationRequiringUpdate}: Reviewer,
		{v1.ValidationReviewerDraft, v1.ValidationApproved}:        Reviewer,
		{v1.ValidationReviewerDraft, v1.ValidationRejected}:        Reviewer,
		{v1.ValidationRequiringUpdate, v1.ValidationUpdated}:       Author,
		{v1.ValidationUpdated, v1.ValidationReviewerDraft}:         Reviewer,
		{v1.ValidationUpdated, v1.ValidationRequiringUpdate}:       Reviewer,
		{v1.ValidationUpdated, v1.ValidationApproved}:              Reviewer,
		{v1.ValidationUpdated, v1.ValidationRejected}:              Reviewer,
	}
	for _, from := range v1.ValidationStatuses {
		for _, to := range v1.ValidationStatuses {
			need, ok := legal[[2]v1.ValidationStatus{from, to}]
			authorErr, reviewerErr := Check(from, to, Author), Check(from, to, Reviewer)
			var illegal *IllegalError
			var forbidden *ForbiddenError
			switch {
			case from == to:
				if !Legal(from, to) || authorErr != nil || reviewerErr != nil {
					t.Errorf("%s → %s: staying put must be legal for everyone, got %v / %v", from, to, authorErr, reviewerErr)
				}
			case !ok:
				if Legal(from, to) || !errors.As(authorErr, &illegal) || !errors.As(reviewerErr, &illegal) {
					t.Errorf("%s → %s: want illegal for everyone, got %v / %v", from, to, authorErr, reviewerErr)
				}
			case need == Author:
				if !Legal(from, to) || authorErr != nil || reviewerErr != nil {
					t.Errorf("%s → %s: want the author's move open to both, got %v / %v", from, to, authorErr, reviewerErr)
				}
			default:
				if !Legal(from, to) || reviewerErr != nil || !errors.As(authorErr, &forbidden) {
					t.Errorf("%s → %s: want a reviewer's move, got author %v / reviewer %v", from, to, authorErr, reviewerErr)
				}
			}
		}
	}
}

func TestFinalStatusesHaveNoNext(t *testing.T) {
	for _, s := range []v1.ValidationStatus{v1.ValidationApproved, v1.ValidationRejected} {
		if n := Next(s); len(n) != 0 {
			t.Errorf("%s: want no next status, got %v", s, n)
		}
		err := Check(s, v1.ValidationDraft, Reviewer)
		if err == nil || err.Error() != "a use case in "+string(s)+" is final and cannot move to DRAFT" {
			t.Errorf("%s → DRAFT: got %v", s, err)
		}
	}
}

func TestErrorsNameTheMove(t *testing.T) {
	if got := Check(v1.ValidationDraft, v1.ValidationApproved, Author).Error(); got != "a use case in DRAFT cannot move to APPROVED (allowed: [UNDER_REVIEW])" {
		t.Errorf("illegal: %q", got)
	}
	if got := Check(v1.ValidationUnderReview, v1.ValidationApproved, Author).Error(); got != "only a reviewer may move a use case from UNDER_REVIEW to APPROVED" {
		t.Errorf("forbidden: %q", got)
	}
}

func TestNextDoesNotExposeTheTable(t *testing.T) {
	n := Next(v1.ValidationDraft)
	n[0] = v1.ValidationApproved
	if Legal(v1.ValidationDraft, v1.ValidationApproved) {
		t.Fatal("changing Next's result changed the workflow")
	}
}
