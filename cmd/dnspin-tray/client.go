package main

// TEMPORARY: a minimal control API client over a Unix socket, until
// control.NewClient (internal/control, another branch) is on main. Replace
// newClient's body with `return control.NewClient(addr)` and delete the
// rest of this file then.

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
	"strings"
	"syscall"

	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/tray"
)

var errNotRunning = errors.New("the dnspin service is not running")

type httpClient struct {
	addr string
	hc   *http.Client
}

func newClient(addr string) tray.Client {
	d := net.Dialer{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", addr)
		},
		DisableCompression: true,
	}
	return &httpClient{addr: addr, hc: &http.Client{Transport: tr}}
}

func (c *httpClient) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://dnspin"+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: %w", c.addr, errNotRunning)
		}
		return nil, fmt.Errorf("control %s: %w", c.addr, err)
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("control %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

func (c *httpClient) getJSON(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *httpClient) Status(ctx context.Context) (control.Status, error) {
	var s control.Status
	err := c.getJSON(ctx, "GET", "/v1/status", nil, &s)
	return s, err
}

func (c *httpClient) SetMode(ctx context.Context, mode string) error {
	return c.getJSON(ctx, "POST", "/v1/mode", map[string]string{"mode": mode}, nil)
}

func (c *httpClient) Check(ctx context.Context) (control.CheckReport, error) {
	var r control.CheckReport
	err := c.getJSON(ctx, "POST", "/v1/check", nil, &r)
	return r, err
}

func (c *httpClient) Report(ctx context.Context) ([]byte, error) {
	resp, err := c.do(ctx, "GET", "/v1/report", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// Events reads server-sent events ("data: {status}" lines) until the
// connection ends.
func (c *httpClient) Events(ctx context.Context) (<-chan control.Status, error) {
	resp, err := c.do(ctx, "GET", "/v1/events", nil)
	if err != nil {
		return nil, err
	}
	ch := make(chan control.Status)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data:")
			if !ok {
				continue
			}
			var s control.Status
			if json.Unmarshal([]byte(strings.TrimSpace(data)), &s) != nil {
				continue
			}
			select {
			case ch <- s:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
