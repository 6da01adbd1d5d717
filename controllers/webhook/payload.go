package webhook

import (
	"encoding/json"
	"time"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// Payload is the body POSTed to a batch's webhook: the REST API's batch
// document (internal/restdoc, the same the facade serves), with the job counts
// of the batch's status. projectID is the project of the batch's namespace;
// updated is the time of the last change (the terminal transition).
func Payload(b *quantumv1alpha1.Batch, projectID, deviceStatus string, updated time.Time) ([]byte, error) {
	doc := restdoc.BatchFromStatus(b, projectID, deviceStatus)
	doc.UpdatedAt = restdoc.Time(updated)
	return json.Marshal(doc)
}
