package runnerspec

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func decode(t *testing.T, kind Kind, args []string, env map[string]string) (Spec, error) {
	t.Helper()
	fs := flag.NewFlagSet(string(kind), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	done := Flags(kind, fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		return Spec{}, err
	}
	return done()
}

func TestRoundTrip(t *testing.T) {
	for _, s := range []Spec{
		{Kind: Batch, Namespace: "p", Name: "b", RunnerID: "p/b/2", LeaseNamespace: "sys", LeaseName: "qpu-fresnel",
			LeaseDuration: 3 * time.Second, GatewayURL: "https://gw", GatewayToken: "s3cret"},
		{Kind: Batch, Namespace: "p", Name: "b", RunnerID: "p/b/1", LeaseName: "b", LeaseDuration: DefaultLeaseDuration,
			GatewayURL: "https://gw", GatewayTokenFile: "/var/run/token"},
		{Kind: Workload, Namespace: "p", Name: "w"},
	} {
		args := s.Args()
		if args[0] != string(s.Kind) {
			t.Fatalf("%v: the subcommand comes first: %q", s, args)
		}
		if strings.Contains(strings.Join(args, " "), "s3cret") {
			t.Errorf("the token never goes in the arguments: %q", args)
		}
		env := map[string]string{}
		for _, kv := range s.Env() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		got, err := decode(t, s.Kind, args[1:], env)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip of %q:\n got %+v\nwant %+v", args, got, s)
		}
	}
}

func TestDecodeFillsDefaultsAndRefusesBadInput(t *testing.T) {
	got, err := decode(t, Batch, []string{"--namespace", "p", "--name", "b", "--runner-id", "r"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.LeaseName != "b" || got.LeaseDuration != DefaultLeaseDuration || got.LeaseNamespace != "" {
		t.Errorf("defaults: %+v", got)
	}
	for _, c := range []struct {
		kind Kind
		args []string
		want string
	}{
		{Batch, []string{"--name", "b", "--runner-id", "r"}, "--namespace, --name and --runner-id are required"},
		{Batch, []string{"--namespace", "p", "--name", "b"}, "--namespace, --name and --runner-id are required"},
		{Batch, []string{"--namespace", "p", "--name", "b", "--runner-id", "r", "--lease-duration", "0s"}, "--lease-duration must be positive"},
		{Batch, []string{"--namespace", "p", "--name", "b", "--runner-id", "r", "extra"}, "(and no positional arguments)"},
		{Workload, []string{"--namespace", "p"}, "--namespace and --name are required"},
		{Workload, []string{"--namespace", "p", "--name", "w", "--runner-id", "r"}, "flag provided but not defined: -runner-id"},
	} {
		_, err := decode(t, c.kind, c.args, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: got %v, want an error with %q", c.kind, c.args, err, c.want)
		}
	}
}
