package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Errors callers branch on.
var (
	// ErrRateLimited matches an APIError with status 429.
	ErrRateLimited = errors.New("wire: rate limited")
	// ErrServer matches an APIError with a 5xx status (or 529 overloaded).
	ErrServer = errors.New("wire: server error")
	// ErrAuth matches an APIError with status 401 or 403.
	ErrAuth = errors.New("wire: authentication failed")
	// ErrStream matches an error event inside a stream.
	ErrStream = errors.New("wire: error event in stream")
)

// APIError is a non-2xx answer or an error event from a provider's API.
type APIError struct {
	Provider   string
	Status     int    // HTTP status; 0 for an error event inside a stream
	Type       string // vendor error type, e.g. rate_limit_error
	Message    string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: stream error %s: %s", e.Provider, e.Type, e.Message)
	}
	return fmt.Sprintf("%s: HTTP %d %s: %s", e.Provider, e.Status, e.Type, e.Message)
}

// Is maps the status to the portable sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrServer:
		return e.Status >= 500
	case ErrAuth:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrStream:
		return e.Status == 0
	}
	return false
}

// Retryable reports whether the request may succeed if sent again.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.Status == http.StatusRequestTimeout
}

// Retry says how often and how long to retry. Hand-written rather than a
// retrying HTTP client because the providers must also stop retrying once
// a stream has started, which those clients cannot know.
type Retry struct {
	Max  int           // retries after the first attempt (default 3; <0 none)
	Base time.Duration // first backoff (default 500ms), doubled each time
	Cap  time.Duration // largest wait (default 30s), also caps Retry-After
}

func (r Retry) withDefaults() Retry {
	if r.Max == 0 {
		r.Max = 3
	}
	if r.Max < 0 {
		r.Max = 0
	}
	if r.Base <= 0 {
		r.Base = 500 * time.Millisecond
	}
	if r.Cap <= 0 {
		r.Cap = 30 * time.Second
	}
	return r
}

// Backoff is the wait before retry n (0-based): Retry-After when the server
// gave one, else exponential with jitter, both capped.
func (r Retry) Backoff(n int, retryAfter time.Duration) time.Duration {
	r = r.withDefaults()
	if retryAfter > 0 {
		return min(retryAfter, r.Cap)
	}
	d := r.Base << min(n, 20)
	d = d/2 + rand.N(d/2+1)
	return min(d, r.Cap)
}

// Post sends body as JSON to url and returns the response of the first
// attempt that is 2xx. 429 and 5xx answers and transport errors are retried
// with backoff, never sooner than a Retry-After asks (one longer than Cap
// fails at once); other statuses fail at once. decodeErr turns an error body
// into the vendor's message and type.
func Post(ctx context.Context, c *http.Client, provider, url string, header http.Header, body []byte, r Retry, decodeErr func([]byte) (typ, msg string)) (*http.Response, error) {
	r = r.withDefaults()
	if c == nil {
		c = http.DefaultClient
	}
	var last error
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%s: build request: %w", provider, err)
		}
		req.Header = header.Clone()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := c.Do(req)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			last = fmt.Errorf("%s: %w", provider, err)
		case resp.StatusCode/100 == 2:
			return resp, nil
		default:
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			typ, msg := decodeErr(raw)
			if msg == "" {
				msg = string(bytes.TrimSpace(raw))
			}
			ae := &APIError{Provider: provider, Status: resp.StatusCode, Type: typ, Message: msg, RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
			if !ae.Retryable() {
				return nil, ae
			}
			if ae.RetryAfter > r.Cap {
				// The server asked for a longer wait than we will sleep:
				// asking again sooner only earns another refusal, so the
				// caller gets the error (with RetryAfter) at once.
				return nil, ae
			}
			last, wait = ae, ae.RetryAfter
		}
		if attempt >= r.Max {
			return nil, fmt.Errorf("after %d attempts: %w", attempt+1, last)
		}
		t := time.NewTimer(r.Backoff(attempt, wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		case <-t.C:
		}
	}
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. Anything else is 0.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 86400 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// DecodeErrorBody reads the {"error":{"type","message"}} body both OpenAI
// and Anthropic use (Anthropic adds a top-level "type":"error").
func DecodeErrorBody(raw []byte) (typ, msg string) {
	var v struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return "", ""
	}
	typ = v.Error.Type
	if typ == "" && v.Error.Code != nil {
		typ = fmt.Sprint(v.Error.Code)
	}
	return typ, v.Error.Message
}
