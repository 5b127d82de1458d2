package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrNotRunning is returned (wrapped, with the address) when no service
// listens at the control address.
var ErrNotRunning = errors.New("dnspin is not running")

// eventsIdle is how long an event stream may stay silent (no event, no
// heartbeat) before the client drops it: a frozen service looks like a
// dead one, and the tray reconnects.
const eventsIdle = 60 * time.Second

// maxAnswerBytes bounds what the client reads from the service.
const maxAnswerBytes = 4 << 20

// Client talks to the control API of a running dnspin service. It is safe
// for concurrent use; every call is bounded by its context.
type Client struct {
	addr string
	hc   *http.Client
	idle time.Duration // eventsIdle; shorter in tests
}

// NewClient returns a client for the socket or pipe at address.
func NewClient(address string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx, address)
		},
		DisableCompression:  true,
		MaxIdleConns:        2,
		MaxIdleConnsPerHost: 2,
	}
	return &Client{addr: address, hc: &http.Client{Transport: tr}, idle: eventsIdle}
}

// Address is the socket or pipe this client talks to.
func (c *Client) Address() string { return c.addr }

// The host part is ignored: the transport always dials the socket.
const baseURL = "http://dnspin"

func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop net/http's `Get "http://dnspin/...":` prefix
		}
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb errorBody
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		if msg == "" {
			msg = resp.Status
		}
		return nil, &APIError{StatusCode: resp.StatusCode, Message: msg}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes))
		return err
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswerBytes)).Decode(out); err != nil {
		return fmt.Errorf("dnspin service at %s sent an answer that is not valid JSON: %w", c.addr, err)
	}
	return nil
}

// Status returns the service's status (GET /v1/status).
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.getJSON(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// SetMode switches the mode: "auto", "pinned" or "passthrough".
func (c *Client) SetMode(ctx context.Context, mode string) error {
	return c.getJSON(ctx, http.MethodPost, "/v1/mode", ModeRequest{Mode: mode}, nil)
}

// Check runs the diagnostics in the service (POST /v1/check).
func (c *Client) Check(ctx context.Context) (CheckReport, error) {
	var r CheckReport
	err := c.getJSON(ctx, http.MethodPost, "/v1/check", nil, &r)
	return r, err
}

// Reload makes the service re-read its config; administrators only (an
// *APIError with StatusCode 403 otherwise).
func (c *Client) Reload(ctx context.Context) error {
	return c.getJSON(ctx, http.MethodPost, "/v1/reload", nil, nil)
}

// Report returns the bounded support report (GET /v1/report).
func (c *Client) Report(ctx context.Context) ([]byte, error) {
	rep, _, err := c.ReportScope(ctx)
	return rep, err
}

// ReportScope is Report that also says whether the service left the
// configuration and log out (reduced: the caller is not an administrator).
func (c *Client) ReportScope(ctx context.Context) (rep []byte, reduced bool, err error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/report", nil)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	rep, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	return rep, resp.Header.Get(ReportScopeHeader) == "reduced", err
}

// Events subscribes to status changes (GET /v1/events, server-sent
// events). The first status arrives at once, then one per change. The
// channel holds only the newest status if the reader falls behind, and is
// closed when the connection ends or ctx is done; reconnect then.
func (c *Client) Events(ctx context.Context) (<-chan Status, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/events", nil)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("dnspin service at %s: /v1/events answered %q, not an event stream", c.addr, ct)
	}
	ch := make(chan Status, 1)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
		defer stop()
		idle := time.AfterFunc(c.idle, func() { resp.Body.Close() })
		defer idle.Stop()
		readEvents(resp.Body, func() { idle.Reset(c.idle) }, func(event string, data []byte) {
			if event != "status" {
				return
			}
			var s Status
			if json.Unmarshal(data, &s) != nil {
				return
			}
			// Keep only the newest: drop a status the reader has not taken.
			for {
				select {
				case ch <- s:
					return
				default:
				}
				select {
				case <-ch:
				default:
				}
			}
		})
	}()
	return ch, nil
}

// readEvents parses a text/event-stream (the subset the server writes:
// event, data, comments) and calls fn per event until r ends.
// alive is called for every line, heartbeats included.
func readEvents(r io.Reader, alive func(), fn func(event string, data []byte)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxAnswerBytes)
	var event string
	var data []byte
	for sc.Scan() {
		alive()
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				if event == "" {
					event = "message"
				}
				fn(event, data)
			}
			event, data = "", nil
		case strings.HasPrefix(line, ":"): // comment: heartbeat
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			d := strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, d...)
		}
	}
}
