package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifeos/life/arcan/provider/wire"
)

func chatCmd(io IO) *cobra.Command {
	var url, session, tok string
	c := &cobra.Command{
		Use:   "chat [MESSAGE]",
		Short: "Talk to a running arcand, streaming (reads messages from stdin without an argument)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			url = strings.TrimRight(url, "/")
			if session == "" {
				resp, err := post(c, url+"/v1/sessions", tok, `{"name":"chat"}`)
				if err != nil {
					return err
				}
				var s struct {
					SessionID string `json:"session_id"`
				}
				err = json.NewDecoder(resp.Body).Decode(&s)
				resp.Body.Close()
				if err != nil || s.SessionID == "" {
					return fmt.Errorf("create session: bad answer (%v)", err)
				}
				session = s.SessionID
				fmt.Fprintf(io.Err, "session %s\n", session)
			}
			failed := false
			// midLine: stdout ends inside the assistant's text, so the
			// text after a tool call starts on a line of its own, as in
			// the shell.
			midLine := false
			send := func(msg string) error {
				body, _ := json.Marshal(map[string]any{"input": msg, "stream": true})
				resp, err := post(c, url+"/v1/sessions/"+session+"/runs", tok, string(body))
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				done := false
				for ev, err := range wire.ReadSSE(resp.Body) {
					if err != nil {
						return err
					}
					switch ev.Name {
					case "AssistantTextDelta":
						var d struct {
							Payload struct {
								Delta string `json:"delta"`
							} `json:"payload"`
						}
						json.Unmarshal([]byte(ev.Data), &d)
						if d.Payload.Delta != "" {
							fmt.Fprint(io.Out, d.Payload.Delta)
							midLine = !strings.HasSuffix(d.Payload.Delta, "\n")
						}
					case "ToolCallRequested":
						var e struct {
							Payload struct {
								ToolName  string          `json:"tool_name"`
								Arguments json.RawMessage `json:"arguments"`
							} `json:"payload"`
						}
						json.Unmarshal([]byte(ev.Data), &e)
						if midLine {
							fmt.Fprintln(io.Out)
							midLine = false
						}
						fmt.Fprintf(io.Err, "  → %s %s\n", e.Payload.ToolName, e.Payload.Arguments)
					case "error":
						var e struct {
							Error string `json:"error"`
						}
						json.Unmarshal([]byte(ev.Data), &e)
						fmt.Fprintf(io.Err, "\nerror: %s\n", e.Error)
						failed = true
					case "done":
						done = true
						fmt.Fprintln(io.Out)
						midLine = false
						var res struct {
							Status, Error string
						}
						json.Unmarshal([]byte(ev.Data), &res)
						if res.Status != "completed" {
							fmt.Fprintf(io.Err, "[run ended: %s %s]\n", res.Status, res.Error)
						}
						// As in the shell: a failed run (an error, a budget) fails
						// the command; a cancelled or paused one does not.
						if res.Status == "error" || res.Status == "budget_exceeded" {
							failed = true
						}
					}
				}
				if !done {
					return fmt.Errorf("the stream from %s ended before the run did (arcand stopped?); the run may go on: see arcan replay %s", url, session)
				}
				return nil
			}
			if len(args) == 1 {
				if err := send(args[0]); err != nil {
					return err
				}
			} else {
				sc := bufio.NewScanner(io.In)
				for sc.Scan() {
					if line := strings.TrimSpace(sc.Text()); line != "" {
						if err := send(line); err != nil {
							return err
						}
					}
				}
				if err := sc.Err(); err != nil {
					return err
				}
			}
			if failed {
				return errRunFailed
			}
			return nil
		},
	}
	c.Flags().StringVar(&url, "url", "http://127.0.0.1:3000", "arcand base URL")
	c.Flags().StringVar(&session, "session", "", "continue this session")
	c.Flags().StringVar(&tok, "token", os.Getenv("ARCAN_TOKEN"), "agent JWT for an arcand started with --auth (default $ARCAN_TOKEN)")
	return c
}

func post(c *cobra.Command, url, tok, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(background(c), http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return nil, fmt.Errorf("cannot reach arcand (is it running? start it with arcand, or pass --url): %w", err)
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		typ, msg := wire.DecodeErrorBody(readAll(resp))
		herr := &httpError{URL: url, Status: resp.StatusCode, Type: typ, Msg: msg}
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("arcand runs with --auth: pass --token or set ARCAN_TOKEN to an agent JWT it accepts (arcan identity token prints one): %w", herr)
		}
		return nil, herr
	}
	return resp, nil
}

func readAll(resp *http.Response) []byte {
	var b bytes.Buffer
	b.ReadFrom(http.MaxBytesReader(nil, resp.Body, 1<<20))
	return b.Bytes()
}
