package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoDaemon is matched when $ARCAN_HOME names no running arcand: no
// daemon file, or one whose process or URL is gone.
var ErrNoDaemon = errors.New("no running arcand recorded")

// Daemon is what a running arcand records in DaemonPath so the read-only
// commands can ask it while it holds the journal's lock.
type Daemon struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

// DaemonPath is where arcand records itself under home.
func DaemonPath(home string) string { return filepath.Join(home, "arcand.json") }

// DaemonURL is the URL a client on this machine uses for a listener's
// address: an unspecified host (0.0.0.0, ::) is reached on loopback.
func DaemonURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// WriteDaemon records d under home atomically (temp file, then rename), so a
// reader never sees half a file.
func WriteDaemon(home string, d Daemon) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(home, ".arcand-*.json")
	if err != nil {
		return fmt.Errorf("stack: daemon file: %w", err)
	}
	_, err = f.Write(append(raw, '\n'))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), DaemonPath(home))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("stack: daemon file: %w", err)
	}
	return nil
}

// RemoveDaemon removes the daemon file if it still names pid: a file another
// process wrote since is not ours to remove.
func RemoveDaemon(home string, pid int) error {
	d, err := readDaemon(home)
	if err != nil || d.PID != pid {
		return nil
	}
	if err := os.Remove(DaemonPath(home)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("stack: daemon file: %w", err)
	}
	return nil
}

func readDaemon(home string) (Daemon, error) {
	var d Daemon
	raw, err := os.ReadFile(DaemonPath(home))
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("%s: %w", DaemonPath(home), err)
	}
	return d, nil
}

// FindDaemon returns the arcand recorded under home once it has checked the
// record: the process runs and the URL answers /healthz like arcand. A
// missing, unreadable or stale record is ErrNoDaemon with the reason.
func FindDaemon(ctx context.Context, home string) (Daemon, error) {
	d, err := readDaemon(home)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return d, fmt.Errorf("%w: no %s", ErrNoDaemon, DaemonPath(home))
	case err != nil:
		return d, fmt.Errorf("%w: %w", ErrNoDaemon, err)
	}
	u, err := neturl.Parse(d.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return d, fmt.Errorf("%w: %s names a bad URL %q", ErrNoDaemon, DaemonPath(home), d.URL)
	}
	if d.PID <= 0 || !pidAlive(d.PID) {
		return d, fmt.Errorf("%w: %s is stale (pid %d is not running)", ErrNoDaemon, DaemonPath(home), d.PID)
	}
	if err := healthy(ctx, d.URL); err != nil {
		return d, fmt.Errorf("%w: %s is stale (%s does not answer: %w)", ErrNoDaemon, DaemonPath(home), d.URL, err)
	}
	return d, nil
}

// healthy asks url's /healthz, which needs no token even with --auth.
func healthy(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var h struct {
		Status string `json:"status"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || h.Status != "ok" {
		return fmt.Errorf("/healthz: not arcand's answer")
	}
	return nil
}
