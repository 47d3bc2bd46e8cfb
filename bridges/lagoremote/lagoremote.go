// Package lagoremote is an aios.Journal over lagod's HTTP API, for daemons
// that follow a lago journal they do not own (autonomicd --lagod URL):
//
//	POST /v1/sessions/{id}/events?branch=B          Append
//	GET  /v1/sessions/{id}/events?branch=B&after=N  Read (NDJSON)
//	GET  /v1/sessions/{id}/head?branch=B            Head
//	GET  /v1/sessions/{id}/events/stream?branch=B   Subscribe (SSE, lago format, resumed with Last-Event-ID)
//	GET  /v1/sessions                               Streams
package lagoremote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
)

// ErrRemote is matched by every error lagod answered with (non-2xx); the
// error is a [*RemoteError].
var ErrRemote = errors.New("lagoremote: lagod refused")

// ErrBadAnswer is matched when a 2xx answer is not what lagod sends: the
// wrong content type, a body that does not parse, an event too large.
var ErrBadAnswer = errors.New("lagoremote: answer not understood")

// RemoteError is a non-2xx answer.
type RemoteError struct {
	Method, URL string
	StatusCode  int
	Status      string
	Message     string // lagod's {"error":...} text, or the start of the body
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%v: %s %s: %s: %s", ErrRemote, e.Method, e.URL, e.Status, e.Message)
}

// Unwrap gives ErrRemote, and aios.ErrNotFound for a 404.
func (e *RemoteError) Unwrap() []error {
	if e.StatusCode == http.StatusNotFound {
		return []error{ErrRemote, aios.ErrNotFound}
	}
	return []error{ErrRemote}
}

// Temporary reports whether the same request may succeed later: a 5xx
// (lagod restarting behind a proxy, overloaded) or 429.
func (e *RemoteError) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// defaultMaxEvent bounds one event's line (NDJSON) or data (SSE); lagod's
// default request limit is 16 MiB.
const defaultMaxEvent = 32 << 20

// Options tune a Journal.
type Options struct {
	// HTTPClient makes the requests (default: one without a timeout, since
	// subscriptions are long-lived; requests are bounded by their ctx).
	HTTPClient *http.Client
	// Token, when set, is sent as a bearer token on every request.
	Token string
	// RetryDelay is the first wait before a dropped subscription reconnects
	// (default 200 ms, doubling up to 10 s).
	RetryDelay time.Duration
	// IdleTimeout drops a subscription's connection that has sent nothing,
	// not even lagod's keep-alive comment (every 15 s), for this long, and
	// reconnects: a peer gone without closing the connection would
	// otherwise stall the subscription for good. Default 60 s; negative
	// never.
	IdleTimeout time.Duration
}

// Journal is the client. It is safe for concurrent use.
type Journal struct {
	base     string
	hc       *http.Client
	opts     Options
	maxEvent int
}

var _ aios.Journal = (*Journal)(nil)

// New returns a client of the lagod at baseURL.
func New(baseURL string, opts Options) (*Journal, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("lagoremote: URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		// a query or fragment would end up before the API paths appended to it
		return nil, fmt.Errorf("lagoremote: URL %q: want http(s)://host:port[/prefix]", baseURL)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 200 * time.Millisecond
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	return &Journal{base: strings.TrimSuffix(u.String(), "/"), hc: opts.HTTPClient, opts: opts, maxEvent: defaultMaxEvent}, nil
}

func (j *Journal) url(session, suffix string, q url.Values) string {
	u := j.base + "/v1/sessions"
	if session != "" {
		u += "/" + url.PathEscape(session) + suffix
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (j *Journal) do(ctx context.Context, method, target string, body []byte, hdr map[string]string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("lagoremote: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if j.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+j.opts.Token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := j.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("lagoremote: %s %s: %w", method, req.URL.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var apiErr struct {
			Error string `json:"error"`
		}
		text := strings.TrimSpace(string(msg))
		if json.Unmarshal(msg, &apiErr) == nil && apiErr.Error != "" {
			text = apiErr.Error
		}
		return nil, &RemoteError{Method: method, URL: req.URL.Redacted(), StatusCode: resp.StatusCode, Status: resp.Status, Message: text}
	}
	return resp, nil
}

// checkType fails with ErrBadAnswer unless resp's media type is want: a
// proxy's page or another server answering 200 is not a stream of events.
func checkType(resp *http.Response, want string) error {
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != want {
		return fmt.Errorf("%w: %s %s: content type %q, want %s", ErrBadAnswer, resp.Request.Method, resp.Request.URL.Redacted(), ct, want)
	}
	return nil
}

func branchQuery(branch string) url.Values { return url.Values{"branch": {branch}} }

// Append posts events, which must all belong to one stream (lagod appends
// one stream per request, atomically).
func (j *Journal) Append(ctx context.Context, events ...aios.EventEnvelope) ([]uint64, error) {
	if len(events) == 0 {
		return nil, nil
	}
	st := aios.StreamID{Session: events[0].SessionID, Branch: events[0].BranchID}
	raw := make([]json.RawMessage, len(events))
	for i := range events {
		if events[i].SessionID != st.Session || events[i].BranchID != st.Branch {
			return nil, fmt.Errorf("lagoremote: one stream per append: event %d is for %s/%s, not %s/%s",
				i, events[i].SessionID, events[i].BranchID, st.Session, st.Branch)
		}
		b, err := aios.EncodeEnvelope(events[i])
		if err != nil {
			return nil, fmt.Errorf("lagoremote: event %d: %w", i, err)
		}
		raw[i] = b
	}
	body, _ := json.Marshal(raw)
	resp, err := j.do(ctx, http.MethodPost, j.url(st.Session, "/events", branchQuery(st.Branch)), body, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Seqs []uint64 `json:"seqs"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: append answer: %w", ErrBadAnswer, err)
	}
	if len(out.Seqs) != len(events) {
		return nil, fmt.Errorf("%w: append answer has %d seqs for %d events", ErrBadAnswer, len(out.Seqs), len(events))
	}
	return out.Seqs, nil
}

// Read yields the events of q as lagod returns them (NDJSON). An empty or
// unknown stream yields nothing.
func (j *Journal) Read(ctx context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		v := branchQuery(q.Stream.Branch)
		v.Set("format", "ndjson")
		if q.After > 0 {
			v.Set("after", strconv.FormatUint(q.After, 10))
		}
		if q.Until > 0 {
			v.Set("until", strconv.FormatUint(q.Until, 10))
		}
		if q.Limit > 0 {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
		resp, err := j.do(ctx, http.MethodGet, j.url(q.Stream.Session, "/events", v), nil, nil)
		if errors.Is(err, aios.ErrNotFound) {
			return
		}
		if err != nil {
			yield(aios.EventEnvelope{}, err)
			return
		}
		defer resp.Body.Close()
		if err := checkType(resp, "application/x-ndjson"); err != nil {
			yield(aios.EventEnvelope{}, err)
			return
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, min(64<<10, j.maxEvent)), j.maxEvent)
		last, n := q.After, 0
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			e, err := aios.DecodeEnvelope(line)
			if err != nil {
				yield(aios.EventEnvelope{}, fmt.Errorf("lagoremote: read %s/%s: %w", q.Stream.Session, q.Stream.Branch, err))
				return
			}
			// A reader folds what it is given: an event out of order or
			// outside the range asked for would be folded twice or early.
			if e.Seq <= last || (q.Until > 0 && e.Seq > q.Until) || (q.Limit > 0 && n >= q.Limit) {
				yield(aios.EventEnvelope{}, fmt.Errorf("%w: read %s/%s: seq %d after %d (range %d..%d, limit %d)",
					ErrBadAnswer, q.Stream.Session, q.Stream.Branch, e.Seq, last, q.After, q.Until, q.Limit))
				return
			}
			last, n = e.Seq, n+1
			if !yield(e, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("%w: an event over %d bytes: %w", ErrBadAnswer, j.maxEvent, err)
			}
			yield(aios.EventEnvelope{}, fmt.Errorf("lagoremote: read %s/%s: %w", q.Stream.Session, q.Stream.Branch, err))
		}
	}
}

// Head returns the last seq of a stream.
func (j *Journal) Head(ctx context.Context, st aios.StreamID) (uint64, error) {
	resp, err := j.do(ctx, http.MethodGet, j.url(st.Session, "/head", branchQuery(st.Branch)), nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Head *uint64 `json:"head"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil {
		return 0, fmt.Errorf("%w: head answer: %w", ErrBadAnswer, err)
	}
	if out.Head == nil {
		return 0, fmt.Errorf("%w: head answer without a head", ErrBadAnswer)
	}
	return *out.Head, nil
}

// Streams lists every stream lagod holds, as (session, branch) pairs.
func (j *Journal) Streams(ctx context.Context) ([]aios.StreamID, error) {
	resp, err := j.do(ctx, http.MethodGet, j.url("", "", nil), nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Sessions []struct {
			SessionID string   `json:"session_id"`
			Branches  []string `json:"branches"`
		} `json:"sessions"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: sessions answer: %w", ErrBadAnswer, err)
	}
	var ids []aios.StreamID
	for _, s := range out.Sessions {
		for _, b := range s.Branches {
			ids = append(ids, aios.StreamID{Session: s.SessionID, Branch: b})
		}
	}
	return ids, nil
}

// Subscribe yields the events after `after`, then live ones, over lagod's
// SSE stream; a dropped connection, or a 5xx or 429 answer, is retried and
// resumed from the last seq seen (Last-Event-ID), so nothing is missed or
// repeated. It ends when ctx does (yielding ctx's error), when lagod refuses
// the stream (4xx), or on an answer that retrying cannot fix
// ([ErrBadAnswer], an event that does not decode).
func (j *Journal) Subscribe(ctx context.Context, st aios.StreamID, after uint64) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		delay := j.opts.RetryDelay
		for {
			last, stop, err := j.stream(ctx, st, after, yield)
			if stop {
				return
			}
			if last > after {
				after, delay = last, j.opts.RetryDelay
			}
			var re *RemoteError
			if errors.As(err, &re) && !re.Temporary() {
				yield(aios.EventEnvelope{}, err)
				return
			}
			select {
			case <-ctx.Done():
				yield(aios.EventEnvelope{}, ctx.Err())
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, 10*time.Second)
		}
	}
}

// stream reads one SSE connection. It returns the last seq yielded, whether
// the consumer stopped, and why the connection ended.
func (j *Journal) stream(ctx context.Context, st aios.StreamID, after uint64, yield func(aios.EventEnvelope, error) bool) (uint64, bool, error) {
	hdr := map[string]string{"Accept": "text/event-stream"}
	if after > 0 {
		hdr["Last-Event-ID"] = strconv.FormatUint(after, 10)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var idle *time.Timer
	if j.opts.IdleTimeout > 0 {
		idle = time.AfterFunc(j.opts.IdleTimeout, cancel) // also bounds the wait for the headers
		defer idle.Stop()
	}
	resp, err := j.do(cctx, http.MethodGet, j.url(st.Session, "/events/stream", branchQuery(st.Branch)), nil, hdr)
	if err != nil {
		return after, false, err
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if idle != nil {
		body = idleReader{resp.Body, idle, j.opts.IdleTimeout}
	}
	if err := checkType(resp, "text/event-stream"); err != nil {
		yield(aios.EventEnvelope{}, err)
		return after, true, err
	}
	last := after
	err = readSSE(body, j.maxEvent, func(id string, data []byte) error {
		e, err := aios.DecodeEnvelope(data)
		if err != nil {
			return fmt.Errorf("lagoremote: stream %s/%s event %s: %w", st.Session, st.Branch, id, err)
		}
		if e.Seq <= last {
			return nil // already seen before a reconnect
		}
		if !yield(e, nil) {
			return errStop
		}
		last = e.Seq
		return nil
	})
	if errors.Is(err, errStop) {
		return last, true, nil
	}
	if err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
		var de *aios.DecodeError
		if errors.As(err, &de) || errors.Is(err, ErrBadAnswer) {
			// the same bytes come back on a reconnect: retrying would spin
			yield(aios.EventEnvelope{}, err)
			return last, true, err
		}
	}
	return last, false, err
}

// idleReader pushes back its timer on every read that returns bytes.
type idleReader struct {
	r    io.Reader
	t    *time.Timer
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.idle)
	}
	return n, err
}

var errStop = errors.New("consumer stopped")

// readSSE calls fn for each event of an SSE body with its id and data, of
// at most maxEvent bytes.
// Hand-written: a dozen lines of the WHATWG framing (data, id, comments)
// against a dependency for it.
func readSSE(r io.Reader, maxEvent int, fn func(id string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(64<<10, maxEvent)), maxEvent)
	var id string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if len(data) > 0 {
				if err := fn(id, data); err != nil {
					return err
				}
			}
			data = data[:0]
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if len(data)+1+len(value) > maxEvent {
				return fmt.Errorf("%w: an event over %d bytes", ErrBadAnswer, maxEvent)
			}
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
		case "id":
			id = string(value)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: a line over %d bytes: %w", ErrBadAnswer, maxEvent, err)
		}
		return err
	}
	return io.EOF
}
