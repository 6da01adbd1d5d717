package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/ociimage"
)

// ImageUser is the user of the Tweezer image (distroless's nonroot, as in
// the Dockerfile): runner pods run as non-root.
const ImageUser = "65532:65532"

// BuildImages builds the runner, manager, facade, pause and notebook
// stand-in binaries (static, from this checkout) and writes the Tweezer
// image, the pause image and the notebook stand-in (NotebookImage) as OCI
// tarballs into outDir; it returns their paths, pause first.
// The Tweezer image has the Dockerfile's layout: binaries in
// /usr/local/bin, the runner as entry point, user 65532.
func BuildImages(ctx context.Context, outDir string) ([]string, error) {
	binDir := filepath.Join(outDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	root := controlplane.RepoRoot()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", binDir+"/",
		"./cmd/runner", "./cmd/manager", "./cmd/apiserver", "./hack/image/pause", "./hack/image/notebook")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the image binaries: %v: %s", err, bytes.TrimSpace(out))
	}
	pause := filepath.Join(outDir, "pause.tar")
	if err := ociimage.Write(pause, ociimage.Spec{
		Ref:        PauseImage,
		Files:      []ociimage.File{{Source: filepath.Join(binDir, "pause"), Path: "/pause"}},
		User:       ImageUser,
		Entrypoint: []string{"/pause"},
	}); err != nil {
		return nil, err
	}
	var files []ociimage.File
	for _, b := range []string{"runner", "manager", "apiserver"} {
		files = append(files, ociimage.File{Source: filepath.Join(binDir, b), Path: "/usr/local/bin/" + b})
	}
	tweezer := filepath.Join(outDir, "tweezer.tar")
	if err := ociimage.Write(tweezer, ociimage.Spec{
		Ref: TweezerImage, Files: files, User: ImageUser,
		Entrypoint: []string{"/usr/local/bin/runner"},
	}); err != nil {
		return nil, err
	}
	// The notebook stand-in answers as `jupyter` and as `cp` (the starter's
	// init container).
	nb := filepath.Join(binDir, "notebook")
	notebook := filepath.Join(outDir, "notebook.tar")
	if err := ociimage.Write(notebook, ociimage.Spec{
		Ref: NotebookImage, User: ImageUser,
		Files:      []ociimage.File{{Source: nb, Path: "/usr/local/bin/jupyter"}, {Source: nb, Path: "/usr/local/bin/cp"}},
		Entrypoint: []string{"/usr/local/bin/jupyter"},
	}); err != nil {
		return nil, err
	}
	return []string{pause, tweezer, notebook}, nil
}

// ImportImages imports image tarballs into the containerd listening on
// socket, in the CRI's namespace (make image, for a node already running).
func ImportImages(ctx context.Context, socket string, images []string) error {
	for _, img := range images {
		args := []string{"--address", socket, "--namespace", "k8s.io", "images", "import", img}
		if out, err := exec.CommandContext(ctx, "ctr", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ctr %v: %v: %s", args, err, bytes.TrimSpace(out))
		}
	}
	return nil
}
