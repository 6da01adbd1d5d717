// Package leaseholder is the holder identity of a runner Lease, the one
// place that formats and parses it: "<namespace>/<batch>#<generation>". The
// manager writes it when it takes a Lease for a runner generation; the runner
// is given it as its identity (runnerspec.Spec.RunnerID) and renews the Lease
// only while the Lease still names it, so a runner whose generation was
// replaced stops (fencing).
//
// The generation is stored here and only here. The Lease's LeaseTransitions
// counts holder changes, the Kubernetes way; the manager numbers the next
// generation from it, so that a QPU Lease, shared by the batches of the
// device, never gives a batch a generation it had before.
package leaseholder

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Holder is a parsed holder identity.
type Holder struct {
	// Batch is the batch the Lease is held for.
	Batch types.NamespacedName
	// Generation is the runner generation, from 1; 0 reserves a QPU for the
	// batch before any runner starts.
	Generation int
}

// String is the holder identity.
func (h Holder) String() string {
	return h.Batch.Namespace + "/" + h.Batch.Name + "#" + strconv.Itoa(h.Generation)
}

// Parse splits a holder identity; ok is false for anything else (a released
// Lease's empty holder among them).
func Parse(holder string) (h Holder, ok bool) {
	i := strings.LastIndexByte(holder, '#')
	if i < 0 {
		return Holder{}, false
	}
	ns, name, found := strings.Cut(holder[:i], "/")
	gen, err := strconv.Atoi(holder[i+1:])
	if !found || err != nil || ns == "" || name == "" || gen < 0 {
		return Holder{}, false
	}
	return Holder{Batch: types.NamespacedName{Namespace: ns, Name: name}, Generation: gen}, true
}
