package v1alpha1

import (
	"strconv"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/types"
)

// InlineJobName is the name of the Job made from the inline job at index i
// (0-based) of the batch with this UID. It is a UUID derived from both, so the
// controller and the REST facade agree on it and a re-apply never duplicates a job.
func InlineJobName(batchUID types.UID, i int) string {
	ns, err := uuid.Parse(string(batchUID))
	if err != nil {
		ns = uuid.NewSHA1(uuid.NameSpaceOID, []byte(batchUID))
	}
	return uuid.NewSHA1(ns, []byte("job/"+strconv.Itoa(i))).String()
}

// ResultConfigMapName is the name of the ConfigMap, owned by the job, that holds
// a job's full result ({"counter": {...}, "raw": [...]}) under ResultKey.
func ResultConfigMapName(jobName string) string { return jobName + "-result" }

// ResultKey is the ConfigMap key of a job's full result.
const ResultKey = "result.json"

// InlineRawBytes is the most raw-shot data (the shots' lengths summed) kept
// in a Job's status.raw; a larger result goes to its result ConfigMap. It
// keeps a finished Job small enough to list and watch cheaply. The CRD also
// caps status.raw at InlineRawShots shots of at most 64 atoms.
const (
	InlineRawBytes = 16 << 10
	InlineRawShots = 4096
)

// FitsInline reports whether raw shots go in a Job's status.raw.
func FitsInline(raw []string) bool {
	if len(raw) > InlineRawShots {
		return false
	}
	size := 0
	for _, s := range raw {
		if len(s) > 64 {
			return false
		}
		size += len(s)
	}
	return size <= InlineRawBytes
}

// MaxResultBytes is the most a job's full result may take: the ConfigMap
// that holds it stores at most 1 MiB.
const MaxResultBytes = 1 << 20

// MinResultBytes is the least a full result of runs shots on atoms atoms
// takes: its raw shots alone (each a quoted bitstring and a comma), one
// counter entry and the document's keys. A job whose MinResultBytes exceeds
// MaxResultBytes cannot store its result, so it is refused before it runs.
func MinResultBytes(runs, atoms int) int {
	return runs*(atoms+3) + atoms + 32
}

// MaxRunsForResult is the most runs of atoms atoms whose result fits.
func MaxRunsForResult(atoms int) int {
	return (MaxResultBytes - atoms - 32) / (atoms + 3)
}
