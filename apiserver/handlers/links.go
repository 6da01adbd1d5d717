package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A signed link (a job's results, a workload's result) lets the SDK fetch
// without a token. Its HMAC covers the kind, namespace, name and UID of the
// object and the expiry, so it serves that one object: not another
// project's object of the same name, nor one recreated under the old name.
// The link itself carries only the id, the expiry and the signature.

// LinkKeys are the keys of results links. Current signs; Current and
// Previous both verify, so that links made before a rotation keep working
// until they expire.
type LinkKeys struct {
	Current, Previous []byte
}

// Keyring holds the LinkKeys in use; a rotation swaps them while requests
// read them.
type Keyring struct {
	keys atomic.Pointer[LinkKeys]
}

// NewKeyring returns a Keyring whose current key is current.
func NewKeyring(current []byte) *Keyring {
	k := &Keyring{}
	k.Set(LinkKeys{Current: current})
	return k
}

// Set replaces the keys.
func (k *Keyring) Set(keys LinkKeys) { k.keys.Store(&keys) }

// Keys returns the keys in use.
func (k *Keyring) Keys() LinkKeys { return *k.keys.Load() }

func mac(key []byte, kind string, obj client.Object, expires string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join([]string{kind, obj.GetNamespace(), obj.GetName(), string(obj.GetUID()), expires}, "\n")))
	return hex.EncodeToString(m.Sum(nil))
}

// sign is the signature of a link to obj with the current key.
func (h *Handlers) sign(kind string, obj client.Object, expires string) string {
	return mac(h.ResultsKeys.Keys().Current, kind, obj, expires)
}

// verify reports whether sig signs a link to obj with the current or the previous key.
func (h *Handlers) verify(kind string, obj client.Object, expires, sig string) bool {
	keys := h.ResultsKeys.Keys()
	for _, key := range [][]byte{keys.Current, keys.Previous} {
		if len(key) > 0 && hmac.Equal([]byte(sig), []byte(mac(key, kind, obj, expires))) {
			return true
		}
	}
	return false
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
		if h.verify(kind, o, expires, sig) {
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
