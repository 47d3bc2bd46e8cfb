package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/lifeos/life/aios"
)

// Client asks a remote autonomicd for gating decisions
// (GET /v1/gating/{session}?branch=...). It implements aios.Gate without a
// fallback; wrap it in a Gate for the timeout and fail-open.
type Client struct {
	base *url.URL
	hc   *http.Client
}

var _ aios.Gate = (*Client)(nil)

// NewClient returns a client for the daemon at baseURL (http or https).
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("gate: autonomic URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		// a query or fragment would end up before the API path appended to it
		return nil, fmt.Errorf("gate: autonomic URL %q: want http(s)://host:port[/prefix]", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{base: u, hc: hc}, nil
}

// maxAnswer bounds the response body read.
const maxAnswer = 1 << 20

// Decide fetches the stream's gating.
func (c *Client) Decide(ctx context.Context, stream aios.StreamID) (aios.Gating, error) {
	if stream.Session == "" {
		return aios.Gating{}, errors.New("gate: empty session id")
	}
	target := c.base.String() + "/v1/gating/" + url.PathEscape(stream.Session)
	if stream.Branch != "" {
		target += "?" + url.Values{"branch": {stream.Branch}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return aios.Gating{}, fmt.Errorf("gate: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return aios.Gating{}, fmt.Errorf("gate: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return aios.Gating{}, fmt.Errorf("gate: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return aios.Gating{}, fmt.Errorf("gate: %s: %s: %s", req.URL.Redacted(), resp.Status, strings.TrimSpace(string(body[:min(len(body), 512)])))
	}
	if len(body) > maxAnswer {
		return aios.Gating{}, fmt.Errorf("gate: answer over %d bytes", maxAnswer)
	}
	return DecodeGating(body)
}

// DecodeGating parses a gating answer; it must name a valid economic mode.
func DecodeGating(b []byte) (aios.Gating, error) {
	var g aios.Gating
	if err := json.Unmarshal(b, &g); err != nil {
		return aios.Gating{}, fmt.Errorf("gate: decode gating: %w", err)
	}
	if !g.EconomicMode.Valid() {
		return aios.Gating{}, fmt.Errorf("gate: decode gating: economic_mode %q is not a mode", g.EconomicMode)
	}
	if g.OperatingMode != "" && !g.OperatingMode.Valid() {
		return aios.Gating{}, fmt.Errorf("gate: decode gating: operating_mode %q is not a mode", g.OperatingMode)
	}
	return g, nil
}
