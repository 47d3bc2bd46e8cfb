package mcpbridge

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
)

// stdioTransport is a stdio server that praxis starts itself and hands to
// mcp-go as plain pipes (transport.NewIO). mcp-go's own stdio transport
// gives the server os.Environ() plus the config's env (only a CommandFunc
// could change that) and reads its stdout through StdoutPipe with an
// unbounded ReadString, with no place for a reader in between; so praxis
// sets the environment, puts stdout behind a capReader, and stops the
// process itself.
type stdioTransport struct {
	*transport.Stdio
	cmd       *exec.Cmd
	stdout    *os.File
	exited    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// The shutdown of MCP's stdio transport: close the server's stdin, then
// SIGTERM, then SIGKILL.
const (
	stdioExitGrace = 2 * time.Second
	stdioTermGrace = 3 * time.Second
)

// startStdio starts cfg's command with env; over is called when a line of
// its stdout exceeds limit.
func startStdio(cfg ServerConfig, env []string, limit int64, over func(), log *slog.Logger) (*stdioTransport, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command(cfg.Command, cfg.Args...)
	cmd.Env = env
	// Files rather than StdoutPipe: Wait then closes nothing the reader
	// still reads, so the process is reaped as soon as it exits. A nil
	// Stderr is /dev/null (mcp-go discarded it too).
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Command, err)
	}
	t := &stdioTransport{cmd: cmd, stdout: outR, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(t.exited)
	}()
	out := newCapReader(outR, limit, capLine, func() {
		over()
		// Nothing reads the rest: a server still writing gets EPIPE
		// instead of blocking until the SIGTERM.
		_ = outR.Close()
	})
	t.Stdio = transport.NewIO(out, inW, nil)
	transport.WithCommandLogger(log)(t.Stdio)
	return t, nil
}

// Close closes the server's stdin and waits for it to exit, signalling it
// when it does not.
func (t *stdioTransport) Close() error {
	t.closeOnce.Do(func() {
		t.closeErr = t.Stdio.Close()
		if !t.waitExit(stdioExitGrace) {
			_ = t.cmd.Process.Signal(syscall.SIGTERM)
			if !t.waitExit(stdioTermGrace) {
				_ = t.cmd.Process.Kill()
				<-t.exited
			}
		}
		_ = t.stdout.Close()
	})
	return t.closeErr
}

func (t *stdioTransport) waitExit(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.exited:
		return true
	case <-timer.C:
		return false
	}
}
