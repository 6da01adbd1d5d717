package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// The arguments of "apiserver rotate-link-key" are checked before any
// cluster is reached; a kubeconfig that cannot be loaded is reported. The
// rotation itself is tested against an API server in apiserver/server
// (TestRotateResultsKey).
func TestRotateLinkKeyArguments(t *testing.T) {
	noCluster := func(string) (*rest.Config, error) { return nil, errors.New("no cluster here") }
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--kubeconfig", "/nonexistent"}, 1, "kubeconfig: no cluster here"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if code := rotateLinkKey(c.args, &out, &errOut, noCluster); code != c.code || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut.String(), c.code, c.want)
		}
		if out.Len() > 0 {
			t.Errorf("%v: wrote %q to stdout", c.args, out.String())
		}
	}
}
