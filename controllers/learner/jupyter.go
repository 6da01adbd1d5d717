package learner

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Flavour is the kind of Jupyter a notebook server runs; each reads its
// options from a different configurable class.
type Flavour string

const (
	// FlavourServer is Jupyter Server: notebook 7 and later (and JupyterLab),
	// configured through ServerApp.
	FlavourServer Flavour = "server"
	// FlavourClassic is the classic notebook server (notebook 6 and earlier,
	// Debian's jupyter-notebook), configured through NotebookApp; it ignores
	// ServerApp options.
	FlavourClassic Flavour = "classic"
)

// ParseFlavour reads a --notebook-flavour value.
func ParseFlavour(s string) (Flavour, error) {
	switch f := Flavour(s); f {
	case FlavourServer, FlavourClassic:
		return f, nil
	}
	return "", fmt.Errorf("notebook flavour must be %q (notebook 7, Jupyter Server) or %q (notebook 6), not %q", FlavourServer, FlavourClassic, s)
}

// FlavourOfVersion tells the flavour from the output of `jupyter notebook
// --version`: notebook 7 and later run on Jupyter Server.
func FlavourOfVersion(out string) (Flavour, error) {
	v := strings.TrimSpace(out)
	if i := strings.LastIndexByte(v, '\n'); i >= 0 { // warnings may come first
		v = strings.TrimSpace(v[i+1:])
	}
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil || v == "" {
		return "", fmt.Errorf("`jupyter notebook --version` printed %q, not a version", strings.TrimSpace(out))
	}
	if n >= 7 {
		return FlavourServer, nil
	}
	return FlavourClassic, nil
}

// ServerOptions are what a notebook server is started with. The token is not
// among them: it goes in the JUPYTER_TOKEN environment variable, which both
// flavours read, so that it never shows in a process list.
type ServerOptions struct {
	Flavour Flavour
	// IP and Port to listen on.
	IP   string
	Port int
	// BaseURL is the server's URL path (nbserver.BasePath).
	BaseURL string
	// Root is the folder the server serves (the learner's workspace).
	Root string
	// Idle: kernels idle this long are culled, and the server shuts itself
	// down once it had no kernel and no activity for this long.
	Idle time.Duration
	// AllowRoot lets the server run as root (local mode as root only).
	AllowRoot bool
}

// Args are the arguments of the jupyter command.
func (o ServerOptions) Args() []string {
	app := "ServerApp"
	root := "root_dir"
	if o.Flavour == FlavourClassic {
		app, root = "NotebookApp", "notebook_dir"
	}
	idle := max(1, int(o.Idle.Round(time.Second).Seconds()))
	args := []string{"notebook", "--no-browser",
		"--" + app + ".ip=" + o.IP,
		"--" + app + ".port=" + strconv.Itoa(o.Port),
		"--" + app + ".port_retries=0",
		"--" + app + ".base_url=" + o.BaseURL,
		"--" + app + ".shutdown_no_activity_timeout=" + strconv.Itoa(idle),
		"--MappingKernelManager.cull_idle_timeout=" + strconv.Itoa(idle),
		"--MappingKernelManager.cull_interval=" + strconv.Itoa(cullInterval(idle)),
	}
	if o.Root != "" {
		args = append(args, "--"+app+"."+root+"="+o.Root)
	}
	if o.AllowRoot {
		args = append(args, "--"+app+".allow_root=True")
	}
	return args
}

// cullInterval is how often idle kernels are looked for: half the idle
// time, at least a second and at most a minute.
func cullInterval(idle int) int {
	return min(60, max(1, idle/2))
}
