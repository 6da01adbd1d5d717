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
