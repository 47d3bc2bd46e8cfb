package mcpbridge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// ErrMessageTooLarge is matched when an external server sends one message
// over the client's cap (ServerConfig.MaxMessageBytes): the connection is
// dropped, and the next call reconnects.
var ErrMessageTooLarge = errors.New("mcpbridge: message from server too large")

// capMode says where one message ends in a stream.
type capMode int

const (
	capWhole capMode = iota // the whole stream is one message (a JSON body)
	capLine                 // a line is a message (stdio)
	capEvent                // an SSE event, ended by a blank line, is a message
)

// capReader fails with ErrMessageTooLarge once one message of r exceeds
// limit bytes. mcp-go reads messages whole (bufio ReadString, io.ReadAll,
// json.Decoder) with no cap of its own, so this bounds what one server can
// make the client hold.
type capReader struct {
	r     io.ReadCloser
	limit int64
	mode  capMode
	over  func() // called once, when the cap is hit
	n     int64  // bytes of the current message
	line  int64  // bytes of the current line
	last  byte   // last byte before the current position in the line
	err   error
}

func newCapReader(r io.ReadCloser, limit int64, mode capMode, over func()) *capReader {
	return &capReader{r: r, limit: limit, mode: mode, over: over}
}

func (r *capReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	if !r.count(p[:n]) {
		r.err = fmt.Errorf("%w: over %d bytes", ErrMessageTooLarge, r.limit)
		if r.over != nil {
			r.over()
		}
		return 0, r.err
	}
	return n, err
}

func (r *capReader) Close() error { return r.r.Close() }

// count adds p to the current message, starting a new one at each message
// end, and reports whether the message is still within the cap.
func (r *capReader) count(p []byte) bool {
	if r.mode == capWhole {
		r.n += int64(len(p))
		return r.n <= r.limit
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if len(seg) > 0 {
			r.n += int64(len(seg))
			r.line += int64(len(seg))
			r.last = seg[len(seg)-1]
		}
		if r.n > r.limit {
			return false
		}
		if i < 0 {
			return true
		}
		r.n++ // the newline
		// A blank line ("\n" or "\r\n") ends an SSE event.
		if r.mode == capLine || r.line == 0 || (r.line == 1 && r.last == '\r') {
			r.n = 0
		}
		r.line = 0
		p = p[i+1:]
	}
	return r.n <= r.limit
}

// capTransport puts every response body of base behind a capReader: an SSE
// stream is capped per event, any other body whole.
type capTransport struct {
	base  http.RoundTripper
	limit int64
	over  func()
}

func (t capTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	mode := capWhole
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		mode = capEvent
	}
	resp.Body = newCapReader(resp.Body, t.limit, mode, t.over)
	return resp, nil
}
