// Package ociimage builds OCI images from local files, with no Docker and no
// registry: one layer holding the given files, written as an OCI image-layout
// tarball that `ctr images import` (and any OCI tool) reads. `make image`
// builds the Tweezer image and the node's pause image with it.
package ociimage

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is a host file copied into the image.
type File struct {
	// Source is the file's path on this machine.
	Source string
	// Path is its absolute path in the image, e.g. /usr/local/bin/runner.
	Path string
}

// Spec describes an image.
type Spec struct {
	// Ref is the image's full name, e.g. tweezer.local/tweezer:dev; a
	// runtime knows the imported image by it.
	Ref string
	// Files are the image's files (mode 0755, owned by root).
	Files []File
	// User is the user the image runs as, numeric (uid:gid), so that
	// runAsNonRoot can check it.
	User string
	// Entrypoint is the command run when a container names none.
	Entrypoint []string
}

func (s Spec) validate() error {
	if s.Ref == "" || !strings.Contains(s.Ref, ":") {
		return fmt.Errorf("ref %q: want a full image name with a tag", s.Ref)
	}
	if len(s.Files) == 0 {
		return errors.New("files: an image needs at least one file")
	}
	for _, f := range s.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return fmt.Errorf("files: image path %q must be absolute and clean", f.Path)
		}
		if _, err := os.Stat(f.Source); err != nil {
			return fmt.Errorf("files: %w", err)
		}
	}
	return nil
}

// Write builds the image and writes it to out as an OCI image-layout tarball
// (written to a temporary file first, so out is never half-written). The
// layout names the image with both the OCI ref-name annotation and
// containerd's io.containerd.image.name, so that `ctr images import` keeps
// its full name.
func Write(out string, s Spec) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("image %s: %w", s.Ref, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return filesTar(s.Files) },
		tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.User = s.User
	cfg.Config.Entrypoint = s.Entrypoint
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}

	dir, err := os.MkdirTemp(filepath.Dir(out), ".oci-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	tag := s.Ref[strings.LastIndex(s.Ref, ":")+1:]
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          s.Ref,
		"org.opencontainers.image.ref.name": tag,
	})); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarDir(dir, tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// filesTar streams a tar of the files and their parent directories.
func filesTar(files []File) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := func() error {
			dirs := map[string]bool{}
			var dirList []string
			for _, f := range files {
				for d := path.Dir(f.Path); d != "/" && !dirs[d]; d = path.Dir(d) {
					dirs[d] = true
					dirList = append(dirList, d)
				}
			}
			sort.Strings(dirList) // parents first
			for _, d := range dirList {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755}); err != nil {
					return err
				}
			}
			for _, f := range files {
				if err := addFile(tw, f.Source, strings.TrimPrefix(f.Path, "/"), 0o755); err != nil {
					return err
				}
			}
			return tw.Close()
		}()
		_ = pw.CloseWithError(err)
	}()
	return pr, nil
}

func addFile(tw *tar.Writer, src, name string, mode int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: st.Size()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// tarDir writes the files under dir to a tar file at out, paths relative to dir.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755})
		}
		return addFile(tw, p, rel, 0o644)
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
