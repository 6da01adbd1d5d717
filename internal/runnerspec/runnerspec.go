// Package runnerspec is the contract between the manager and a runner: what
// a runner is told to run, encoded into the runner binary's arguments and
// environment by the manager's executors, and decoded by the runner binary.
// Both sides use this package and nothing else, so a field is named, encoded
// and decoded in one place.
package runnerspec

import (
	"flag"
	"fmt"
	"time"
)

// Kind is what a runner runs; it is the runner binary's subcommand.
type Kind string

// The runner kinds.
const (
	// Batch runs the jobs of a Batch while holding its Lease.
	Batch Kind = "batch"
	// Workload runs one Workload.
	Workload Kind = "workload"
)

// TokenEnv is the environment variable that carries the QPU gateway's bearer
// token: never an argument, so it does not show in the process list.
const TokenEnv = "TWEEZER_GATEWAY_TOKEN"

// DefaultLeaseDuration is a batch runner's Lease validity when none is
// given. It is what a runner's death costs when no executor reports it (a
// hung runner, a lost node), and it bounds the API outage a runner rides
// out: three quarters of it, less one renewal interval (about 39 s).
const DefaultLeaseDuration = 60 * time.Second

// Spec is one runner's description.
type Spec struct {
	// Kind is what the runner runs.
	Kind Kind
	// Namespace and Name name the Batch or Workload.
	Namespace, Name string

	// The rest applies to batch runners only.

	// RunnerID is the runner's identity, the holder of its Lease.
	RunnerID string
	// LeaseNamespace and LeaseName name the Lease the runner renews; the
	// batch's namespace and name when empty.
	LeaseNamespace, LeaseName string
	// LeaseDuration is how long the Lease stays valid without renewal.
	LeaseDuration time.Duration
	// GatewayURL, when set, runs the jobs on a QPU through this gateway.
	GatewayURL string
	// GatewayToken is the gateway's bearer token, carried in TokenEnv (a
	// runner process's).
	GatewayToken string
	// GatewayTokenFile holds the gateway token instead, read on every
	// request (a runner pod's projected service-account token).
	GatewayTokenFile string
}

// Args are the runner binary's arguments: the subcommand, then its flags.
func (s Spec) Args() []string {
	args := []string{string(s.Kind), "--namespace", s.Namespace, "--name", s.Name}
	if s.Kind != Batch {
		return args
	}
	args = append(args, "--runner-id", s.RunnerID)
	if s.LeaseNamespace != "" {
		args = append(args, "--lease-namespace", s.LeaseNamespace)
	}
	if s.LeaseName != "" {
		args = append(args, "--lease-name", s.LeaseName)
	}
	if s.LeaseDuration > 0 {
		args = append(args, "--lease-duration", s.LeaseDuration.String())
	}
	if s.GatewayURL != "" {
		args = append(args, "--gateway-url", s.GatewayURL)
	}
	if s.GatewayTokenFile != "" {
		args = append(args, "--gateway-token-file", s.GatewayTokenFile)
	}
	return args
}

// Env is the runner's environment beyond the inherited one, as NAME=value.
func (s Spec) Env() []string {
	if s.GatewayToken == "" {
		return nil
	}
	return []string{TokenEnv + "=" + s.GatewayToken}
}

// Flags registers the flags of a kind's spec on fs and returns the function
// that completes the spec once fs is parsed: it checks the flags, takes the
// gateway token from getenv, and fills the defaults. The caller may register
// flags of its own on fs (they are not part of the contract).
func Flags(kind Kind, fs *flag.FlagSet, getenv func(string) string) func() (Spec, error) {
	s := Spec{Kind: kind}
	what := "the Batch"
	if kind == Workload {
		what = "the Workload"
	}
	fs.StringVar(&s.Namespace, "namespace", "", "namespace of "+what)
	fs.StringVar(&s.Name, "name", "", "name of "+what)
	if kind == Batch {
		fs.StringVar(&s.RunnerID, "runner-id", "", "this runner's identity, the holder of its lease")
		fs.StringVar(&s.LeaseNamespace, "lease-namespace", "", "namespace of the runner's lease (default: the batch's)")
		fs.StringVar(&s.LeaseName, "lease-name", "", "name of the runner's lease (default: the batch's name)")
		fs.DurationVar(&s.LeaseDuration, "lease-duration", DefaultLeaseDuration, "validity of the lease; it is renewed every quarter of it, at most 5s apart")
		fs.StringVar(&s.GatewayURL, "gateway-url", "", "QPU gateway URL: run the jobs on the QPU instead of the emulator")
		fs.StringVar(&s.GatewayTokenFile, "gateway-token-file", "", "file holding the gateway token, read on every request (a projected service-account token); default: $"+TokenEnv)
	}
	required := "--namespace and --name are required"
	if kind == Batch {
		required = "--namespace, --name and --runner-id are required"
	}
	return func() (Spec, error) {
		if s.Namespace == "" || s.Name == "" || (kind == Batch && s.RunnerID == "") || fs.NArg() > 0 {
			return s, fmt.Errorf("%s: %s (and no positional arguments)", kind, required)
		}
		if kind == Batch {
			if s.LeaseDuration <= 0 {
				return s, fmt.Errorf("%s: --lease-duration must be positive, got %s", kind, s.LeaseDuration)
			}
			if s.LeaseName == "" {
				s.LeaseName = s.Name
			}
			s.GatewayToken = getenv(TokenEnv)
		}
		return s, nil
	}
}
