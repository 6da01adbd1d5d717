package learner

import (
	"embed"
	"fmt"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// The starter notebook of each learning package ships inside the manager
// (written by hack/jupyter/starters.py) and is copied into the learner's
// workspace when a server starts: nothing is downloaded.
//
//go:embed starters/*.ipynb
var starters embed.FS

// StarterFile is the starter notebook's name in a learner's workspace.
const StarterFile = "starter.ipynb"

// Starter is the starter notebook of a package.
func Starter(pkg quantumv1alpha1.ProjectPackage) ([]byte, error) {
	b, err := starters.ReadFile("starters/" + string(pkg) + ".ipynb")
	if err != nil {
		return nil, fmt.Errorf("no starter notebook for package %q", pkg)
	}
	return b, nil
}
