package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tweezer-dev/tweezer/apiserver/handlers"
)

// The keys of results links, in the Secret Config.ResultsKeySecret names.
// A rotation writes a new "current" and moves the old one to "previous":
// links signed before it verify until they expire (ResultsLinkTTL), so the
// previous key can go after that long.
const (
	CurrentKey  = "current"
	PreviousKey = "previous"
	// MinKeyBytes is the shortest key accepted.
	MinKeyBytes = 32
)

// DefaultPublicURL is the base URL of results links when none is
// configured: the listen address, with localhost for an unspecified host
// (local mode). A facade behind a Service or an ingress is configured with
// its public URL; the request's Host header is never used.
func DefaultPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func splitSecret(ref string) (namespace, name string, err error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("results key secret %q: want namespace/name", ref)
	}
	return ns, name, nil
}

// resultsKeys returns the keyring of results links: from the Secret when
// one is configured (loaded by loadResultsKeys and followed through the
// cache c), else the configured key, else a random key, which the log
// reports since its links die with the process.
func resultsKeys(cfg Config, c cache.Cache) (*handlers.Keyring, error) {
	if cfg.ResultsKeySecret != "" {
		keys := handlers.NewKeyring(nil)
		inf, err := c.GetInformer(context.Background(), &corev1.Secret{})
		if err != nil {
			return nil, err
		}
		load := func(obj any) {
			s, ok := obj.(*corev1.Secret)
			if !ok {
				return
			}
			k, err := keysOf(s)
			if err != nil {
				cfg.Log.Error(err, "results key secret refused: links keep the keys they had", "secret", cfg.ResultsKeySecret)
				return
			}
			keys.Set(k)
			cfg.Log.Info("results link keys loaded", "secret", cfg.ResultsKeySecret, "previous", len(k.Previous) > 0)
		}
		// A deleted Secret leaves the keys as they were.
		handler := toolscache.ResourceEventHandlerFuncs{AddFunc: load, UpdateFunc: func(_, obj any) { load(obj) }}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, err
		}
		return keys, nil
	}
	if len(cfg.ResultsKey) > 0 {
		if len(cfg.ResultsKey) < MinKeyBytes {
			return nil, fmt.Errorf("results key: %d bytes, want at least %d", len(cfg.ResultsKey), MinKeyBytes)
		}
		return handlers.NewKeyring(cfg.ResultsKey), nil
	}
	key := make([]byte, MinKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	cfg.Log.Info("no results key configured: results links are signed with a random key, so they fail on other replicas and after a restart; configure a key Secret (--results-key-secret)")
	return handlers.NewKeyring(key), nil
}

// keysOf reads the keys of a results key Secret.
func keysOf(s *corev1.Secret) (handlers.LinkKeys, error) {
	cur, prev := s.Data[CurrentKey], s.Data[PreviousKey]
	if len(cur) < MinKeyBytes {
		return handlers.LinkKeys{}, fmt.Errorf("secret %s/%s: data.%s has %d bytes, want at least %d", s.Namespace, s.Name, CurrentKey, len(cur), MinKeyBytes)
	}
	if len(prev) > 0 && len(prev) < MinKeyBytes {
		return handlers.LinkKeys{}, fmt.Errorf("secret %s/%s: data.%s has %d bytes, want at least %d (or none)", s.Namespace, s.Name, PreviousKey, len(prev), MinKeyBytes)
	}
	return handlers.LinkKeys{Current: cur, Previous: prev}, nil
}

// loadResultsKeys reads the results key Secret once the cache has synced,
// so the facade signs no link before it has its keys. An invalid Secret
// stops the start; a missing one leaves a random key, which the log
// reports, until the Secret is created.
func (s *Server) loadResultsKeys(ctx context.Context) error {
	if s.cfg.ResultsKeySecret == "" {
		return nil
	}
	ns, name, err := splitSecret(s.cfg.ResultsKeySecret)
	if err != nil {
		return err
	}
	sec := &corev1.Secret{}
	err = s.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec)
	if apierrors.IsNotFound(err) {
		if len(s.keys.Keys().Current) > 0 {
			return nil
		}
		key := make([]byte, MinKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		s.keys.Set(handlers.LinkKeys{Current: key})
		s.cfg.Log.Info("the results key secret does not exist: results links are signed with a random key until it does, so they fail on other replicas and after a restart", "secret", s.cfg.ResultsKeySecret)
		return nil
	}
	if err != nil {
		return fmt.Errorf("results key secret %s: %w", s.cfg.ResultsKeySecret, err)
	}
	k, err := keysOf(sec)
	if err != nil {
		return err
	}
	s.keys.Set(k)
	return nil
}

// RotateResultsKey rotates the results link keys in the Secret ref
// (namespace/name) through c: a new random data.current signs from now on
// and the old current becomes data.previous, which still verifies the links
// signed before (every replica follows the Secret), while the key that was
// previous is retired (whatever it held). A Secret that does not exist is created with a
// current key only (created is true). A Secret whose current key is not a
// valid key is refused, naming it, and left alone; so is a rotation that
// finds the Secret changed since it was read (run it again). Links older
// than the results-link TTL are dead anyway: rotating again after that long
// retires the key a rotation replaced.
func RotateResultsKey(ctx context.Context, c client.Client, ref string) (created bool, err error) {
	ns, name, err := splitSecret(ref)
	if err != nil {
		return false, err
	}
	key := make([]byte, MinKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return false, err
	}
	sec := &corev1.Secret{}
	err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec)
	if apierrors.IsNotFound(err) {
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{CurrentKey: key}}
		if err := c.Create(ctx, sec); err != nil {
			return false, fmt.Errorf("creating results key secret %s: %w", ref, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading results key secret %s: %w", ref, err)
	}
	cur := sec.Data[CurrentKey]
	if len(cur) < MinKeyBytes {
		return false, fmt.Errorf("results key secret %s: data.%s has %d bytes, want at least %d: fix or delete the secret, then rotate", ref, CurrentKey, len(cur), MinKeyBytes)
	}
	sec.Data = map[string][]byte{CurrentKey: key, PreviousKey: cur}
	if err := c.Update(ctx, sec); err != nil {
		if apierrors.IsConflict(err) {
			return false, fmt.Errorf("results key secret %s changed while it was rotated: nothing written, rotate again", ref)
		}
		return false, fmt.Errorf("writing results key secret %s: %w", ref, err)
	}
	return false, nil
}
