package oracle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/seal"
)

// Config is the custody oracle's configuration file (JSON).
type Config struct {
	Socket     string        `json:"socket"`
	SocketMode string        `json:"socket_mode,omitempty"` // octal, default "0666"
	AdminGroup string        `json:"admin_group,omitempty"` // group name or numeric gid
	Agents     []AgentConfig `json:"agents"`
}

// AgentConfig names one agent's sealed seed and owner.
type AgentConfig struct {
	Name           string `json:"name"`
	SeedFile       string `json:"seed_file"`       // a sealed seed (anima new)
	PassphraseFile string `json:"passphrase_file"` // mode 0600 or stricter
	OwnerUID       uint32 `json:"owner_uid"`
}

// ParseConfig decodes and validates a configuration.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("oracle config: %w", err)
	}
	if c.Socket == "" {
		return nil, fmt.Errorf("oracle config: socket is empty")
	}
	if _, err := c.Mode(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, a := range c.Agents {
		if a.Name == "" || seen[a.Name] {
			return nil, fmt.Errorf("oracle config: agents[%d]: empty or duplicate name %q", i, a.Name)
		}
		seen[a.Name] = true
		if a.SeedFile == "" || a.PassphraseFile == "" {
			return nil, fmt.Errorf("oracle config: agent %q needs seed_file and passphrase_file", a.Name)
		}
	}
	return &c, nil
}

// Mode returns the socket file mode.
func (c *Config) Mode() (os.FileMode, error) {
	if c.SocketMode == "" {
		return 0o666, nil
	}
	m, err := strconv.ParseUint(c.SocketMode, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("oracle config: socket_mode %q is not an octal permission", c.SocketMode)
	}
	return os.FileMode(m), nil
}

// AdminGID resolves the admin group; ok is false when none is configured.
func (c *Config) AdminGID() (gid uint32, ok bool, err error) {
	if c.AdminGroup == "" {
		return 0, false, nil
	}
	if n, err := strconv.ParseUint(c.AdminGroup, 10, 32); err == nil {
		return uint32(n), true, nil
	}
	g, err := user.LookupGroup(c.AdminGroup)
	if err != nil {
		return 0, false, fmt.Errorf("oracle config: admin_group: %w", err)
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("oracle config: admin_group gid %q: %w", g.Gid, err)
	}
	return uint32(n), true, nil
}

// OpenAgents unseals every agent's seed into an in-process backend.
func (c *Config) OpenAgents() ([]Agent, error) {
	var out []Agent
	for _, a := range c.Agents {
		sealed, err := seal.Load(a.SeedFile)
		if err != nil {
			return nil, fmt.Errorf("agent %q: %w", a.Name, err)
		}
		pass, err := readSecret(a.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("agent %q: %w", a.Name, err)
		}
		seed, err := sealed.Open(pass)
		clear(pass)
		if err != nil {
			return nil, fmt.Errorf("agent %q: %w", a.Name, err)
		}
		cust, err := custody.NewInProcess(seed)
		if err != nil {
			return nil, fmt.Errorf("agent %q: %w", a.Name, err)
		}
		out = append(out, Agent{Name: a.Name, OwnerUID: a.OwnerUID, Custody: cust})
	}
	return out, nil
}

// maxSecret bounds a passphrase file.
const maxSecret = 4096

func readSecret(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	// A FIFO would block start-up for good.
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %v; want no group or other access", path, fi.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecret {
		return nil, fmt.Errorf("%s is longer than %d bytes", path, maxSecret)
	}
	return []byte(strings.TrimRight(string(b), "\r\n")), nil
}
