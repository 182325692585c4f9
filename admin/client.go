package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
)

// Client talks to a running vxswitch over its admin socket.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the admin socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
		MaxIdleConns:       2,
	}
	return &Client{socket: path, hc: &http.Client{Transport: tr}}
}

// base is the URL prefix of every request; the host is never resolved.
const base = "http://vxswitch"

// APIError is an error answer from the server.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// do sends a request and checks the answer's status; the caller closes the
// body of a successful answer.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	u := base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.dialError(err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb errorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	return resp, nil
}

// dialError explains the usual reasons a connection fails.
func (c *Client) dialError(err error) error {
	var hint string
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		hint = " (is vxswitch running with this admin socket? see --socket)"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		hint = " (the admin socket is for root and the user vxswitch runs as)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("admin socket %s: %w%s", c.socket, err, hint)
}

func (c *Client) getJSON(ctx context.Context, path string, query url.Values, out any) error {
	resp, err := c.do(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin socket %s: GET %s: bad answer: %w", c.socket, path, err)
	}
	return nil
}

func networkQuery(network string) url.Values {
	if network == "" {
		return nil
	}
	return url.Values{"network": {network}}
}

// FDB returns the MAC tables, of one network if network is not empty.
func (c *Client) FDB(ctx context.Context, network string) ([]FDBEntry, error) {
	var out []FDBEntry
	return out, c.getJSON(ctx, "/v1/fdb", networkQuery(network), &out)
}

// Neighbors returns the neighbor tables, of one network if network is not
// empty.
func (c *Client) Neighbors(ctx context.Context, network string) ([]NeighEntry, error) {
	var out []NeighEntry
	return out, c.getJSON(ctx, "/v1/neigh", networkQuery(network), &out)
}

// Ports returns the local ports.
func (c *Client) Ports(ctx context.Context) ([]PortEntry, error) {
	var out []PortEntry
	return out, c.getJSON(ctx, "/v1/ports", nil, &out)
}

// Peers returns the remote VTEPs.
func (c *Client) Peers(ctx context.Context) ([]PeerEntry, error) {
	var out []PeerEntry
	return out, c.getJSON(ctx, "/v1/peers", nil, &out)
}

// Stats returns the counters.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	var out Stats
	return &out, c.getJSON(ctx, "/v1/stats", nil, &out)
}

// Explain asks what the switch would do with a frame or datagram.
func (c *Client) Explain(ctx context.Context, req ExplainRequest) (*Explanation, error) {
	resp, err := c.do(ctx, http.MethodPost, "/v1/explain", nil, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out Explanation
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("admin socket %s: explain: bad answer: %w", c.socket, err)
	}
	return &out, nil
}

// CaptureRequest selects what a capture records: one port's frames, one
// network's frames, the underlay's datagrams, or (all empty) the frames of
// every network. Count ends it after that many packets (0: no limit).
type CaptureRequest struct {
	Port, Network string
	Underlay      bool
	Count         uint64
}

// TraceRequest selects the arriving frames a trace shows.
type TraceRequest struct {
	Port, Network string
	Count         uint64
}

// Capture starts a capture; the Stream reads pcapng.
func (c *Client) Capture(ctx context.Context, r CaptureRequest) (*Stream, error) {
	q := url.Values{}
	if r.Port != "" {
		q.Set("port", r.Port)
	}
	if r.Network != "" {
		q.Set("network", r.Network)
	}
	if r.Underlay {
		q.Set("underlay", "true")
	}
	if r.Count > 0 {
		q.Set("count", strconv.FormatUint(r.Count, 10))
	}
	return c.stream(ctx, "/v1/capture", q)
}

// Trace starts a trace; the Stream reads TraceEvents as JSON Lines.
func (c *Client) Trace(ctx context.Context, r TraceRequest) (*Stream, error) {
	q := url.Values{}
	if r.Port != "" {
		q.Set("port", r.Port)
	}
	if r.Network != "" {
		q.Set("network", r.Network)
	}
	if r.Count > 0 {
		q.Set("count", strconv.FormatUint(r.Count, 10))
	}
	return c.stream(ctx, "/v1/trace", q)
}

func (c *Client) stream(ctx context.Context, path string, q url.Values) (*Stream, error) {
	resp, err := c.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	return &Stream{c: c, resp: resp, id: resp.Header.Get(HeaderSession)}, nil
}

// Stream is a running capture or trace.
type Stream struct {
	c    *Client
	resp *http.Response
	id   string
}

// Read reads the stream's body.
func (s *Stream) Read(p []byte) (int, error) { return s.resp.Body.Read(p) }

// Stop asks the server to end the stream: it sends what it has queued and
// its final counts, then the body ends.
func (s *Stream) Stop(ctx context.Context) error {
	resp, err := s.c.do(ctx, http.MethodPost, "/v1/sessions/"+url.PathEscape(s.id)+"/stop", nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Close ends the stream at once.
func (s *Stream) Close() error { return s.resp.Body.Close() }

// Counts returns what the server sent and what it dropped because this
// stream could not keep up. ok is false until the body was read to its
// end, or if the stream broke off.
func (s *Stream) Counts() (packets, drops uint64, ok bool) {
	p, err1 := strconv.ParseUint(s.resp.Trailer.Get(TrailerPackets), 10, 64)
	d, err2 := strconv.ParseUint(s.resp.Trailer.Get(TrailerDrops), 10, 64)
	return p, d, err1 == nil && err2 == nil
}
