package ociimage

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// untar extracts an OCI layout tarball into a folder.
func untar(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteMakesANamedOCILayoutWithTheFiles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "hello")
	if err := os.WriteFile(src, []byte("#!/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "img.tar")
	spec := Spec{Ref: "tweezer.local/test:v1", Files: []File{{Source: src, Path: "/usr/local/bin/hello"}}, User: "65532:65532", Entrypoint: []string{"/usr/local/bin/hello"}}
	if err := Write(out, spec); err != nil {
		t.Fatal(err)
	}
	lay := filepath.Join(dir, "layout")
	untar(t, out, lay)
	idx, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("%d manifests, want 1", len(im.Manifests))
	}
	desc := im.Manifests[0]
	if desc.Annotations["io.containerd.image.name"] != spec.Ref || desc.Annotations["org.opencontainers.image.ref.name"] != "v1" {
		t.Errorf("annotations %v do not name %s", desc.Annotations, spec.Ref)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != spec.User || strings.Join(cfg.Config.Entrypoint, " ") != "/usr/local/bin/hello" || cfg.OS != "linux" {
		t.Errorf("config: user %q, entrypoint %v, os %q", cfg.Config.User, cfg.Config.Entrypoint, cfg.OS)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "usr/local/bin/hello" && h.Mode != 0o755 {
			t.Errorf("mode %o, want 755", h.Mode)
		}
	}
	if strings.Join(names, ",") != "usr/,usr/local/,usr/local/bin/,usr/local/bin/hello" {
		t.Errorf("layer holds %v", names)
	}
}

func TestWriteRefusesBadSpecsAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "f")
	if err := os.WriteFile(src, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		spec Spec
		want string
	}{
		"no tag":        {Spec{Ref: "tweezer", Files: []File{{Source: src, Path: "/f"}}}, "ref"},
		"no files":      {Spec{Ref: "a/b:c"}, "files"},
		"relative path": {Spec{Ref: "a/b:c", Files: []File{{Source: src, Path: "f"}}}, "files"},
		"missing file":  {Spec{Ref: "a/b:c", Files: []File{{Source: filepath.Join(dir, "nope"), Path: "/f"}}}, "files"},
	} {
		out := filepath.Join(dir, "out.tar")
		err := Write(out, c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", name, err, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: %s written", name, out)
		}
	}
}
