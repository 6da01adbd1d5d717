package learner

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

func TestServerOptionsForBothFlavours(t *testing.T) {
	o := ServerOptions{IP: "127.0.0.1", Port: 9999, BaseURL: "/notebooks/p/nb-x/", Root: "/w", Idle: 90 * time.Second}
	o.Flavour = FlavourClassic
	want := "notebook --no-browser --NotebookApp.ip=127.0.0.1 --NotebookApp.port=9999 --NotebookApp.port_retries=0 --NotebookApp.base_url=/notebooks/p/nb-x/ " +
		"--NotebookApp.shutdown_no_activity_timeout=90 --MappingKernelManager.cull_idle_timeout=90 --MappingKernelManager.cull_interval=45 --NotebookApp.notebook_dir=/w"
	if got := strings.Join(o.Args(), " "); got != want {
		t.Errorf("classic:\n got %s\nwant %s", got, want)
	}
	o.Flavour, o.AllowRoot, o.Idle = FlavourServer, true, 2*time.Hour
	want = "notebook --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=9999 --ServerApp.port_retries=0 --ServerApp.base_url=/notebooks/p/nb-x/ " +
		"--ServerApp.shutdown_no_activity_timeout=7200 --MappingKernelManager.cull_idle_timeout=7200 --MappingKernelManager.cull_interval=60 --ServerApp.root_dir=/w --ServerApp.allow_root=True"
	if got := strings.Join(o.Args(), " "); got != want {
		t.Errorf("server:\n got %s\nwant %s", got, want)
	}
	// Sub-second idle times round up to a second, the least Jupyter takes.
	o.Idle = 200 * time.Millisecond
	if got := strings.Join(o.Args(), " "); !strings.Contains(got, "cull_idle_timeout=1 ") || !strings.Contains(got, "cull_interval=1 ") {
		t.Errorf("short idle: %s", got)
	}
}

func TestFlavourOfVersion(t *testing.T) {
	for out, want := range map[string]Flavour{"6.4.12\n": FlavourClassic, "5.7.8": FlavourClassic, "7.2.1\n": FlavourServer, "DeprecationWarning: x\n7.0.0\n": FlavourServer} {
		if got, err := FlavourOfVersion(out); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", out, got, err, want)
		}
	}
	for _, out := range []string{"", "Jupyter command `jupyter-notebook` not found.", "x.y"} {
		if _, err := FlavourOfVersion(out); err == nil || !strings.Contains(err.Error(), "not a version") {
			t.Errorf("%q: %v", out, err)
		}
	}
	if _, err := ParseFlavour("lab"); err == nil || !strings.Contains(err.Error(), `not "lab"`) {
		t.Errorf("ParseFlavour: %v", err)
	}
}

// Every package has a starter notebook: nbformat 4, a python3 kernel, code
// that builds a Pulser sequence and submits it with the SDK.
func TestEveryPackageHasAStarterNotebook(t *testing.T) {
	for _, pkg := range v1.ProjectPackages {
		b, err := Starter(pkg)
		if err != nil {
			t.Fatal(err)
		}
		var nb struct {
			NBFormat int `json:"nbformat"`
			Metadata struct {
				Kernelspec struct{ Name string } `json:"kernelspec"`
			} `json:"metadata"`
			Cells []struct {
				CellType string   `json:"cell_type"`
				Source   []string `json:"source"`
			} `json:"cells"`
		}
		if err := json.Unmarshal(b, &nb); err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		var code string
		for _, c := range nb.Cells {
			if c.CellType == "code" {
				code += strings.Join(c.Source, "") + "\n"
			}
		}
		if nb.NBFormat != 4 || nb.Metadata.Kernelspec.Name != "python3" {
			t.Errorf("%s: nbformat %d kernel %q", pkg, nb.NBFormat, nb.Metadata.Kernelspec.Name)
		}
		for _, want := range []string{"from pulser import", "Sequence(register,", "seq.to_abstract_repr()", "from pasqal_cloud import SDK, Endpoints", "sdk.create_batch(", `os.environ["TWEEZER_PROJECT_ID"]`} {
			if !strings.Contains(code, want) {
				t.Errorf("%s: the code lacks %q", pkg, want)
			}
		}
	}
	if _, err := Starter("NO_SUCH_PACKAGE"); err == nil {
		t.Error("a starter for an unknown package")
	}
}
