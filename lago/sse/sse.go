// Package sse turns journal events into Server-Sent Events in four wire
// formats: lago (the canonical envelope), openai (chat.completion.chunk),
// anthropic (Messages API stream events) and vercel (AI SDK UI message
// stream v1). Each message carries the seq of the event it came from as its
// SSE id, so a client reconnecting with Last-Event-ID resumes after it with
// no loss and no duplicates.
//
// An Encoder is stateful and serves one stream; a Writer frames messages on
// an http.ResponseWriter (or any io.Writer) and flushes them.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/lifeos/life/aios"
)

// Message is one SSE message. Data may hold several lines; each is written
// as its own data: field.
type Message struct {
	ID    string
	Event string
	Data  []byte
}

// Encoder converts the events of one stream, in seq order, to messages.
type Encoder interface {
	// Format is the format's name (lago, openai, anthropic, vercel).
	Format() string
	// Header sets the response headers of the format.
	Header(h http.Header)
	// Encode returns the messages for one event, possibly none.
	Encode(e aios.EventEnvelope) ([]Message, error)
	// Done reports that the encoder wrote its final message (a finished
	// run for the chat formats); the stream should end.
	Done() bool
}

// RawEncoder is an Encoder that can also encode stored bytes without
// decoding them (the canonical format).
type RawEncoder interface {
	Encoder
	EncodeRaw(seq uint64, data []byte) []Message
}

// ErrUnknownFormat is matched by New for a format it does not know.
var ErrUnknownFormat = errors.New("sse: unknown format")

// Formats lists the format names New accepts.
var Formats = []string{"lago", "openai", "anthropic", "vercel"}

// Options configure the chat-format encoders.
type Options struct {
	// Model is reported as the model name when events do not carry one.
	Model string
}

// New returns a fresh encoder for format.
func New(format string, opts Options) (Encoder, error) {
	if opts.Model == "" {
		opts.Model = "lago"
	}
	switch format {
	case "", "lago":
		return &Lago{}, nil
	case "openai":
		return newOpenAI(opts), nil
	case "anthropic":
		return newAnthropic(opts), nil
	case "vercel":
		return newVercel(opts), nil
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownFormat, format, strings.Join(Formats, ", "))
}

// id is the SSE id of an event: its seq, or none for an event not yet
// journaled (seq 0), which a client could not resume from.
func id(seq uint64) string {
	if seq == 0 {
		return ""
	}
	return strconv.FormatUint(seq, 10)
}

// ParseLastEventID reads a Last-Event-ID header value: the seq to resume
// after. Empty means none (0).
func ParseLastEventID(v string) (uint64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sse: Last-Event-ID %q is not a seq", v)
	}
	return n, nil
}

func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
}

// Lago is the canonical format: one message per event, id = seq,
// event = the payload type, data = the stored envelope JSON.
type Lago struct{}

// Format returns "lago".
func (*Lago) Format() string { return "lago" }

// Header sets the event-stream headers.
func (*Lago) Header(h http.Header) { setStreamHeaders(h) }

// Encode writes the envelope in its wire form.
func (*Lago) Encode(e aios.EventEnvelope) ([]Message, error) {
	b, err := aios.EncodeEnvelope(e)
	if err != nil {
		return nil, fmt.Errorf("sse: encode seq %d: %w", e.Seq, err)
	}
	return []Message{{ID: id(e.Seq), Event: e.Payload.Type(), Data: b}}, nil
}

// EncodeRaw frames stored bytes without decoding; the event name is left
// out (clients read the type from the payload).
func (*Lago) EncodeRaw(seq uint64, data []byte) []Message {
	return []Message{{ID: id(seq), Data: data}}
}

// Done is always false: the canonical stream is live until the client leaves.
func (*Lago) Done() bool { return false }

// Writer frames messages on w, flushing after each batch when w can.
type Writer struct {
	w   io.Writer
	f   http.Flusher
	buf bytes.Buffer
}

// NewWriter returns a Writer on w (an http.ResponseWriter is flushed).
func NewWriter(w io.Writer) *Writer {
	f, _ := w.(http.Flusher)
	return &Writer{w: w, f: f}
}

// Write frames msgs and flushes them.
func (w *Writer) Write(msgs ...Message) error {
	w.buf.Reset()
	for _, m := range msgs {
		AppendMessage(&w.buf, m)
	}
	if _, err := w.w.Write(w.buf.Bytes()); err != nil {
		return err
	}
	if w.f != nil {
		w.f.Flush()
	}
	return nil
}

// Comment writes a comment line (a keep-alive) and flushes.
func (w *Writer) Comment(text string) error {
	if _, err := io.WriteString(w.w, ": "+strings.ReplaceAll(text, "\n", " ")+"\n\n"); err != nil {
		return err
	}
	if w.f != nil {
		w.f.Flush()
	}
	return nil
}

// AppendMessage writes one framed message to b. Newlines in the id or event
// name are dropped (they would end the field); data is split on newlines.
func AppendMessage(b *bytes.Buffer, m Message) {
	if m.ID != "" {
		b.WriteString("id: ")
		b.WriteString(stripNL(m.ID))
		b.WriteByte('\n')
	}
	if m.Event != "" {
		b.WriteString("event: ")
		b.WriteString(stripNL(m.Event))
		b.WriteByte('\n')
	}
	data := m.Data
	for {
		i := bytes.IndexAny(data, "\r\n")
		b.WriteString("data: ")
		if i < 0 {
			b.Write(data)
			b.WriteByte('\n')
			break
		}
		b.Write(data[:i])
		b.WriteByte('\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b.WriteByte('\n')
}

func stripNL(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		return strings.NewReplacer("\r", "", "\n", "").Replace(s)
	}
	return s
}
