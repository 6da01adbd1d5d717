package batchrunner

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// unavailable reports whether err says that the API server did not answer
// or could not serve the request for now: no connection (refused, reset,
// cut off: client-go returns a *url.Error, a net.Error), 429, or a 5xx. A
// write that failed so may succeed when tried again; any other error (a
// conflict, a refusal, a missing object) is an answer.
func unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == http.StatusTooManyRequests || code >= http.StatusInternalServerError
	}
	var ne net.Error
	return errors.As(err, &ne) || utilnet.IsProbableEOF(err)
}

// Backoff of untilAnswered: the first wait and the longest.
const (
	retryFirst = 200 * time.Millisecond
	retryMax   = 2 * time.Second
)

// untilAnswered calls write until it returns something other than an
// unavailable API server, waiting retryFirst, then twice as long each time
// up to retryMax, and gives up when ctx ends (it returns write's last
// error then). A runner's context ends when its Lease may be lost, which
// bounds the wait through an outage and keeps the fence: nothing is
// written after that.
func untilAnswered(ctx context.Context, write func() error) error {
	wait := retryFirst
	for {
		err := write()
		if !unavailable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}
