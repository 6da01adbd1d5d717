package handlers

import (
	"net/http"

	"github.com/tweezer-dev/tweezer/apiserver/envelope"
)

// checkTransition refuses a worker's status write that would revive a
// finished job, batch or workload (DONE → RUNNING, say): a terminal status
// is final. Writing the same status again is fine (workers retry).
// terminal tells whether a status is terminal.
func checkTransition(kind, name, from, to string, terminal func(string) bool) error {
	if from == to || !terminal(from) {
		return nil
	}
	return envelope.Errorf(http.StatusConflict, "%s %s is already %s: a finished %s cannot become %s", kind, name, from, kind, to)
}
