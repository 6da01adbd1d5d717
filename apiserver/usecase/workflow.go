// Package usecase is the review workflow of use cases: which validation
// status may follow which, and who may make each move. It is pure; the
// UseCase CRD enforces the same moves with a CEL transition rule.
package usecase

import (
	"fmt"
	"slices"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Actor is who asks for a move.
type Actor int

// The actors of the workflow.
const (
	// Author is the user who wrote the use case.
	Author Actor = iota
	// Reviewer is a superuser of the platform team.
	Reviewer
)

func (a Actor) String() string {
	if a == Reviewer {
		return "a reviewer"
	}
	return "the author"
}

type move struct {
	to []quantumv1alpha1.ValidationStatus
	by Actor
}

var reviewOutcomes = []quantumv1alpha1.ValidationStatus{
	quantumv1alpha1.ValidationReviewerDraft, quantumv1alpha1.ValidationRequiringUpdate,
	quantumv1alpha1.ValidationApproved, quantumv1alpha1.ValidationRejected,
}

// moves lists, per status, the statuses that may follow it and who makes the move.
var moves = map[quantumv1alpha1.ValidationStatus]move{
	quantumv1alpha1.ValidationDraft:       {to: []quantumv1alpha1.ValidationStatus{quantumv1alpha1.ValidationUnderReview}, by: Author},
	quantumv1alpha1.ValidationUnderReview: {to: reviewOutcomes, by: Reviewer},
	quantumv1alpha1.ValidationReviewerDraft: {to: []quantumv1alpha1.ValidationStatus{
		quantumv1alpha1.ValidationRequiringUpdate, quantumv1alpha1.ValidationApproved, quantumv1alpha1.ValidationRejected,
	}, by: Reviewer},
	quantumv1alpha1.ValidationRequiringUpdate: {to: []quantumv1alpha1.ValidationStatus{quantumv1alpha1.ValidationUpdated}, by: Author},
	quantumv1alpha1.ValidationUpdated:         {to: reviewOutcomes, by: Reviewer},
}

// Initial are the statuses a new use case may start in: a draft, or
// submitted for review right away.
var Initial = []quantumv1alpha1.ValidationStatus{quantumv1alpha1.ValidationDraft, quantumv1alpha1.ValidationUnderReview}

// Next lists the statuses that may follow from (none for APPROVED and REJECTED).
func Next(from quantumv1alpha1.ValidationStatus) []quantumv1alpha1.ValidationStatus {
	return slices.Clone(moves[from].to)
}

// Legal reports whether to may follow from; staying put is always legal.
func Legal(from, to quantumv1alpha1.ValidationStatus) bool {
	return from == to || slices.Contains(moves[from].to, to)
}

// IllegalError is a move the workflow does not have.
type IllegalError struct {
	From, To quantumv1alpha1.ValidationStatus
}

func (e *IllegalError) Error() string {
	next := moves[e.From].to
	if len(next) == 0 {
		return fmt.Sprintf("a use case in %s is final and cannot move to %s", e.From, e.To)
	}
	return fmt.Sprintf("a use case in %s cannot move to %s (allowed: %v)", e.From, e.To, next)
}

// ForbiddenError is a legal move asked for by an actor who may not make it.
type ForbiddenError struct {
	From, To quantumv1alpha1.ValidationStatus
	Need     Actor
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("only %s may move a use case from %s to %s", e.Need, e.From, e.To)
}

// Check tells whether actor may move a use case from one status to another:
// nil, an *IllegalError for a move the workflow does not have, or a
// *ForbiddenError for a move reserved to the other actor. A reviewer may
// also make the author's moves.
func Check(from, to quantumv1alpha1.ValidationStatus, actor Actor) error {
	if from == to {
		return nil
	}
	if !Legal(from, to) {
		return &IllegalError{From: from, To: to}
	}
	if need := moves[from].by; need == Reviewer && actor != Reviewer {
		return &ForbiddenError{From: from, To: to, Need: need}
	}
	return nil
}
