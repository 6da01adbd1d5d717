package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestGatewayCommandRefusesBadSetups: the gateway does not start with
// stray or bad arguments, or without a cluster to review tokens against.
func TestGatewayCommandRefusesBadSetups(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing-kubeconfig")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"gateway", "extra"}, 2, "no positional arguments"},
		{[]string{"gateway", "--shot-time", "soon"}, 2, "invalid value"},
		{[]string{"gateway", "--kubeconfig", missing}, 1, "loading the cluster configuration"},
	} {
		var stderr bytes.Buffer
		if code := dispatch(c.args, &bytes.Buffer{}, &stderr); code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v = %d (%q), want %d mentioning %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}
