// Package nbserver holds the names that the notebook controller and the
// facade share about a learner's notebook server: the name of its objects,
// their labels, its URL path and where its token is kept.
package nbserver

import (
	"crypto/sha256"
	"encoding/hex"
)

// Labels on a notebook server's objects.
const (
	// LearnerLabel names the Learner.
	LearnerLabel = "quantum.tweezer.dev/learner"
	// NotebookLabel names the notebook.
	NotebookLabel = "quantum.tweezer.dev/notebook"
	// TokenKey is the key of the server's token in its token object.
	TokenKey = "token"
)

// ServerName names the Pod, Service and token object of a learner's
// notebook: the notebook's name and a hash of both names, a valid DNS label.
func ServerName(learner, notebook string) string {
	h := sha256.Sum256([]byte(learner + "/" + notebook))
	return "nb-" + notebook + "-" + hex.EncodeToString(h[:5])
}

// BasePath is the server's URL path, so that one ingress can route every server.
func BasePath(namespace, server string) string {
	return "/notebooks/" + namespace + "/" + server + "/"
}
