package mcpbridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// maxDrain bounds how long the end of stdio input waits for answers: tool
// calls are bounded by their own timeouts, this only guards against a
// request that is never answered.
const maxDrain = 10 * time.Minute

// drain lets a stdio session end only when every request it read has been
// answered. The MCP server cancels calls still running when its input ends,
// so "printf requests | praxis mcp serve" would otherwise get "context
// canceled" for every tool call.
type drain struct {
	mu      sync.Mutex
	pending map[string]bool // request ids read and not yet answered
	idle    chan struct{}   // closed while pending is empty
	partial []byte          // output written so far without its newline
}

func newDrain() *drain {
	d := &drain{pending: map[string]bool{}, idle: make(chan struct{})}
	close(d.idle)
	return d
}

// message is what the drain needs of a JSON-RPC line.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
}

// idOf returns a canonical form of a message's id ("" for none or null),
// so that 1 and 1.0 name the same request.
func idOf(line []byte) (string, string, bool) {
	var m message
	if json.Unmarshal(line, &m) != nil || len(m.ID) == 0 {
		return "", "", false
	}
	// JSON-RPC ids are strings or numbers; any other id may be answered
	// with a null id, and waiting for it would hold the end of the session.
	var v any
	if json.Unmarshal(m.ID, &v) != nil {
		return "", "", false
	}
	switch v.(type) {
	case string, float64:
	default:
		return "", "", false
	}
	b, _ := json.Marshal(v)
	return string(b), m.Method, true
}

func (d *drain) read(line []byte) {
	id, method, ok := idOf(line)
	if !ok || method == "" {
		return // a notification, or a client's answer to a server request
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pending) == 0 {
		d.idle = make(chan struct{})
	}
	d.pending[id] = true
}

func (d *drain) answered(line []byte) {
	id, method, ok := idOf(line)
	if !ok || method != "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.pending[id] {
		return
	}
	delete(d.pending, id)
	if len(d.pending) == 0 {
		close(d.idle)
	}
}

// abandon stops waiting for answers.
func (d *drain) abandon() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pending) > 0 {
		clear(d.pending)
		close(d.idle)
	}
}

// wait blocks until every request read so far is answered, ctx is done or
// maxDrain has passed.
func (d *drain) wait(ctx context.Context) {
	d.mu.Lock()
	idle := d.idle
	d.mu.Unlock()
	t := time.NewTimer(maxDrain)
	defer t.Stop()
	select {
	case <-idle:
	case <-ctx.Done():
	case <-t.C:
	}
}

// drainReader passes input through line by line and holds back the end of
// input until the drain is idle.
type drainReader struct {
	ctx context.Context
	d   *drain
	r   *bufio.Reader
	buf []byte
	eof bool
}

func (r *drainReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			r.d.wait(r.ctx)
			return 0, io.EOF
		}
		line, err := r.r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] != '\n' {
			// A last line without newline would reach the server only with
			// the end of input, which waits for that line's answer.
			line = append(line, '\n')
		}
		if len(line) > 0 {
			r.d.read(line)
			r.buf = line
		}
		if err == io.EOF {
			r.eof = true
		} else if err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// drainWriter passes output through and marks answered requests.
type drainWriter struct {
	d *drain
	w io.Writer
}

func (w *drainWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		w.d.abandon() // the client is gone: no answer will reach it
		return n, err
	}
	w.d.mu.Lock()
	w.d.partial = append(w.d.partial, p[:n]...)
	var lines [][]byte
	for {
		i := bytes.IndexByte(w.d.partial, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, w.d.partial[:i])
		w.d.partial = w.d.partial[i+1:]
	}
	w.d.mu.Unlock()
	for _, l := range lines {
		w.d.answered(l)
	}
	return n, err
}
