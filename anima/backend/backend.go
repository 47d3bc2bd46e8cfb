// Package backend opens a custody backend from a URL, so binaries can take
// one flag for where an agent's keys live:
//
//	home:///var/lib/agents/scout          the in-process backend, unlocked from an anima home
//	oracle:///run/anima/oracle.sock?agent=scout   a custody oracle over its Unix socket
//
// It lives apart from custody because it imports every backend.
package backend

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/home"
	"github.com/lifeos/life/anima/oracle"
)

// ErrBadURL is matched by errors about an unusable backend URL.
var ErrBadURL = errors.New("backend: bad custody URL")

// Options carry what some backends need to open.
type Options struct {
	// Passphrase unlocks a home:// seed; ignored by the oracle.
	Passphrase []byte
}

// Open returns the custody backend named by rawURL. The caller closes it
// with Close when it is an io.Closer (the oracle client is).
func Open(ctx context.Context, rawURL string, o Options) (custody.Custody, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if u.Host != "" {
		return nil, fmt.Errorf("%w: %q names a host; use scheme:///absolute/path", ErrBadURL, rawURL)
	}
	if u.Path == "" {
		return nil, fmt.Errorf("%w: %q has no path", ErrBadURL, rawURL)
	}
	// Parts no backend reads are refused, not silently dropped.
	if u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%w: %q has a user or fragment", ErrBadURL, rawURL)
	}
	switch u.Scheme {
	case "home":
		if len(u.Query()) != 0 {
			return nil, fmt.Errorf("%w: home:// takes no query", ErrBadURL)
		}
		c, _, err := home.Unlock(u.Path, o.Passphrase)
		if err != nil {
			return nil, err
		}
		return c, nil
	case "oracle":
		q := u.Query()
		agent := q.Get("agent")
		if agent == "" || len(q) != 1 || len(q["agent"]) != 1 {
			return nil, fmt.Errorf("%w: oracle:// needs exactly ?agent=NAME", ErrBadURL)
		}
		return oracle.Dial(ctx, u.Path, agent)
	}
	return nil, fmt.Errorf("%w: unknown scheme %q (home, oracle)", ErrBadURL, u.Scheme)
}
