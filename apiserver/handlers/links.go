package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A signed link (a job's results, a workload's result) lets the SDK fetch
// without a token. Its HMAC covers the kind, namespace, name and UID of the
// object and the expiry, so it serves that one object: not another
// project's object of the same name, nor one recreated under the old name.
// The link itself carries only the id, the expiry and the signature.

func (h *Handlers) sign(kind string, obj client.Object, expires string) string {
	m := hmac.New(sha256.New, h.ResultsKey)
	m.Write([]byte(strings.Join([]string{kind, obj.GetNamespace(), obj.GetName(), string(obj.GetUID()), expires}, "\n")))
	return hex.EncodeToString(m.Sum(nil))
}

// signedQuery is the query of a link to obj valid for ResultsLinkTTL.
func (h *Handlers) signedQuery(kind string, obj client.Object) url.Values {
	expires := strconv.FormatInt(time.Now().Add(h.ResultsLinkTTL).Unix(), 10)
	return url.Values{"expires": {expires}, "signature": {h.sign(kind, obj, expires)}}
}

// signedOne returns the object among candidates (same-named objects) that
// the link signs, or nil when none does or the link has expired.
func signedOne[T client.Object](h *Handlers, kind string, candidates []T, expires, sig string) T {
	var none T
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || time.Now().Unix() > exp || sig == "" {
		return none
	}
	for _, o := range candidates {
		if hmac.Equal([]byte(sig), []byte(h.sign(kind, o, expires))) {
			return o
		}
	}
	return none
}

// ptrs points at the items of a list.
func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
