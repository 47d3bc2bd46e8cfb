// Package oracle is the custody oracle: a daemon that holds the seeds of
// several agents and signs for them over a Unix domain socket. The kernel
// tells it who the caller is (SO_PEERCRED, SO_PEERGROUPS); a request for an
// agent is served only if the caller is root, in the configured admin group,
// or the agent's listed owner. Anything else, including credentials that
// cannot be read, is denied. Client is a custody backend speaking to it.
package oracle

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/eip712"
)

// Agent is one identity the oracle holds.
type Agent struct {
	Name     string
	OwnerUID uint32
	Custody  custody.Custody
}

// NoAdminGroup disables the admin group rule.
const NoAdminGroup = -1

// Server answers sign requests on a Unix socket.
type Server struct {
	agents   map[string]*Agent
	adminGID int64
	log      *slog.Logger
	idle     time.Duration
	maxConns int
	// maxPerUID keeps one local user (any user may connect to a 0666
	// socket) from holding every connection slot.
	maxPerUID int

	mu    sync.Mutex
	conns map[uint32]int // open connections per peer uid
}

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithAdminGroup lets members of gid (primary or supplementary) use every agent.
func WithAdminGroup(gid uint32) ServerOption { return func(s *Server) { s.adminGID = int64(gid) } }

// WithLogger sets the logger for denials and errors.
func WithLogger(l *slog.Logger) ServerOption { return func(s *Server) { s.log = l } }

// WithIdleTimeout closes connections idle that long (default 5 minutes).
func WithIdleTimeout(d time.Duration) ServerOption { return func(s *Server) { s.idle = d } }

// NewServer returns a server for agents (names must be unique and non-empty).
func NewServer(agents []Agent, opts ...ServerOption) (*Server, error) {
	s := &Server{agents: map[string]*Agent{}, adminGID: NoAdminGroup, log: slog.Default(),
		idle: 5 * time.Minute, maxConns: 64, maxPerUID: 16, conns: map[uint32]int{}}
	for i := range agents {
		a := agents[i]
		if a.Name == "" || a.Custody == nil {
			return nil, fmt.Errorf("oracle: agent %d has no name or custody", i)
		}
		if _, dup := s.agents[a.Name]; dup {
			return nil, fmt.Errorf("oracle: agent %q listed twice", a.Name)
		}
		s.agents[a.Name] = &a
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Listen creates the socket at path with the given mode, replacing a stale
// socket file (but nothing else).
func Listen(path string, mode os.FileMode) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("oracle: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("oracle: remove stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("oracle: listen: %w", err)
	}
	// Access is decided per request from the peer's credentials; the file
	// mode only decides who may connect at all.
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("oracle: chmod socket: %w", err)
	}
	return ln, nil
}

// Serve accepts connections until ctx is done, then closes the listener and
// every connection and returns nil.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.maxConns)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				wg.Wait()
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				wg.Wait()
				return err
			}
			s.log.Warn("oracle: accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			s.log.Warn("oracle: too many connections, refusing one")
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			unwatch := context.AfterFunc(ctx, func() { conn.Close() })
			defer unwatch()
			s.handle(ctx, conn)
		}()
	}
}

func (s *Server) handle(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	pc, err := peerCred(conn)
	if err != nil {
		s.log.Warn("oracle: refusing connection without credentials", "err", err)
		return
	}
	if !s.admit(pc.UID) {
		s.log.Warn("oracle: too many connections from one uid, refusing one", "uid", pc.UID, "pid", pc.PID)
		return
	}
	defer s.release(pc.UID)
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	w := bufio.NewWriter(conn)
	enc := json.NewEncoder(w)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(s.idle))
		if !sc.Scan() {
			if err := sc.Err(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Warn("oracle: read", "uid", pc.UID, "err", err)
				_ = enc.Encode(Response{Error: &WireError{Code: CodeBadRequest, Message: err.Error()}})
				_ = w.Flush()
			}
			return
		}
		resp := s.serve(ctx, pc, sc.Bytes())
		if err := enc.Encode(resp); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

func (s *Server) admit(uid uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[uid] >= s.maxPerUID {
		return false
	}
	s.conns[uid]++
	return true
}

func (s *Server) release(uid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[uid]--; s.conns[uid] <= 0 {
		delete(s.conns, uid)
	}
}

func (s *Server) serve(ctx context.Context, pc PeerCred, line []byte) Response {
	req, err := DecodeRequest(line)
	if err != nil {
		return Response{Error: &WireError{Code: CodeBadRequest, Message: err.Error()}}
	}
	agent, werr := s.authorize(pc, req.Agent)
	if werr != nil {
		s.log.Warn("oracle: denied", "uid", pc.UID, "gid", pc.GID, "pid", pc.PID, "agent", req.Agent, "op", req.Op)
		return Response{ID: req.ID, Error: werr}
	}
	result, err := s.dispatch(ctx, agent, req)
	if err != nil {
		code := CodeInternal
		switch {
		case errors.Is(err, aios.ErrUnsupported):
			code = CodeUnsupported
		case errors.Is(err, custody.ErrBadRequest), errors.Is(err, eip712.ErrInvalid):
			code = CodeBadRequest
		}
		return Response{ID: req.ID, Error: &WireError{Code: code, Message: err.Error()}}
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return Response{ID: req.ID, Error: &WireError{Code: CodeInternal, Message: err.Error()}}
	}
	return Response{ID: req.ID, OK: true, Result: raw}
}

// Allowed reports whether a caller may use the named agent, and is the whole
// access rule: root, the admin group, or the agent's owner.
func (s *Server) Allowed(pc PeerCred, agent string) bool {
	_, werr := s.authorize(pc, agent)
	return werr == nil
}

func (s *Server) authorize(pc PeerCred, name string) (*Agent, *WireError) {
	a := s.agents[name]
	admin := pc.UID == 0 ||
		s.adminGID >= 0 && (int64(pc.GID) == s.adminGID || slices.Contains(pc.Groups, uint32(s.adminGID)))
	switch {
	case a != nil && (admin || a.OwnerUID == pc.UID):
		return a, nil
	case a == nil && admin:
		return nil, &WireError{Code: CodeBadRequest, Message: fmt.Sprintf("no agent %q", name)}
	}
	// The same answer whether or not the agent exists, so callers cannot
	// probe for names.
	return nil, &WireError{Code: CodeDenied, Message: fmt.Sprintf("uid %d may not use agent %q", pc.UID, name)}
}

func (s *Server) dispatch(ctx context.Context, a *Agent, req *Request) (any, error) {
	c := a.Custody
	switch req.Op {
	case OpDescribe:
		auth, err := c.PublicKey(ctx, aios.KeyAuth)
		if err != nil {
			return nil, err
		}
		wallet, err := c.PublicKey(ctx, aios.KeyWallet)
		if err != nil {
			return nil, err
		}
		ap, ok1 := auth.(*ecdsa.PublicKey)
		wp, ok2 := wallet.(*btcec.PublicKey)
		if !ok1 || !ok2 {
			return nil, errors.New("oracle: backend returned unexpected key types")
		}
		ab, err := ap.Bytes()
		if err != nil {
			return nil, err
		}
		return Description{DID: c.DID(), WalletAddress: c.WalletAddress(),
			AuthPublicKey: ab, WalletPublicKey: wp.SerializeCompressed()}, nil
	case OpSignJWS:
		if len(req.Claims) == 0 {
			return nil, fmt.Errorf("%w: no claims", custody.ErrBadRequest)
		}
		if err := checkPurpose(req.Purpose); err != nil {
			return nil, err
		}
		return c.SignJWS(ctx, req.Purpose, req.Header, req.Claims)
	case OpSignDigest:
		if err := checkPurpose(req.Purpose); err != nil {
			return nil, err
		}
		return c.SignDigest(ctx, req.Purpose, req.Digest)
	case OpSignTypedData:
		td, err := eip712.Parse(req.TypedData)
		if err != nil {
			return nil, err
		}
		return c.SignTypedData(ctx, td)
	case OpRotate:
		// Rotating would need the oracle to persist a new sealed seed and
		// hand the events to the journal; not offered over the socket yet.
		return nil, custody.ErrUnsupported("oracle", "rotate")
	}
	return nil, fmt.Errorf("%w: op %q", custody.ErrBadRequest, req.Op)
}

func checkPurpose(p aios.KeyPurpose) error {
	if p != aios.KeyAuth && p != aios.KeyWallet {
		return fmt.Errorf("%w: purpose %q", custody.ErrBadRequest, p)
	}
	return nil
}
