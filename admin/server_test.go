package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/vtep"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// ignoreAges compares entries without their ages, which tests check apart.
var ignoreAges = cmpopts.IgnoreFields(FDBEntry{}, "AgeSeconds")

func TestFDB(t *testing.T) {
	tb := newTestbed(t)
	tb.exchange()
	got, err := tb.client.FDB(ctxT(t), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []FDBEntry{
		{Network: "blue", VNI: vniBlue, MAC: "02:00:00:00:00:01", Where: "port c1-eth1", Type: "learned", Source: "learned from port c1-eth1"},
		{Network: "blue", VNI: vniBlue, MAC: "02:00:00:00:00:02", Where: "vtep 192.0.2.2", Type: "learned", Source: "learned from vtep 192.0.2.2"},
	}
	sort.Slice(got, func(i, j int) bool { return got[i].MAC < got[j].MAC })
	if diff := cmp.Diff(want, got, ignoreAges); diff != "" {
		t.Errorf("FDB mismatch (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if e.AgeSeconds == nil || *e.AgeSeconds < 0 {
			t.Errorf("learned entry %s has age %v, want a number ≥ 0", e.MAC, e.AgeSeconds)
		}
	}
	red, err := tb.client.FDB(ctxT(t), "red")
	if err != nil || len(red) != 0 {
		t.Errorf("FDB(red) = %v, %v; want empty", red, err)
	}
	_, err = tb.client.FDB(ctxT(t), "green")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Message != `no network "green" (networks: blue, red)` {
		t.Errorf("FDB(green) error = %v, want 404 naming the networks", err)
	}
}

func TestNeighPortsPeers(t *testing.T) {
	tb := newTestbed(t)
	tb.exchange()
	ctx := ctxT(t)

	neigh, err := tb.client.Neighbors(ctx, "blue")
	if err != nil {
		t.Fatal(err)
	}
	wantNeigh := []NeighEntry{{Network: "blue", VNI: vniBlue, IP: "10.0.1.9", MAC: "02:00:00:00:00:09", Type: "static"}}
	if diff := cmp.Diff(wantNeigh, neigh); diff != "" {
		t.Errorf("Neighbors mismatch (-want +got):\n%s", diff)
	}

	ports, err := tb.client.Ports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantPorts := []PortEntry{
		{Name: "c1-eth1", Network: "blue", VNI: vniBlue, Netns: "/run/netns/c1-eth1", IfName: "eth1", MAC: "02:00:00:00:00:ee", MTU: 1450, RxFrames: 1, TxFrames: 1},
		{Name: "r1-eth1", Network: "red", VNI: vniRed, Netns: "/run/netns/r1-eth1", IfName: "eth1", MAC: "02:00:00:00:00:ee", MTU: 1450},
	}
	if diff := cmp.Diff(wantPorts, ports, cmpopts.IgnoreFields(PortEntry{}, "RxBytes", "TxBytes")); diff != "" {
		t.Errorf("Ports mismatch (-want +got):\n%s", diff)
	}
	if ports[0].RxBytes == 0 || ports[0].TxBytes == 0 {
		t.Errorf("c1-eth1 counted no bytes: %+v", ports[0])
	}

	peers, err := tb.client.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 {
		t.Fatalf("Peers = %+v, want 192.0.2.2 only", peers)
	}
	p := peers[0]
	if p.VTEP != "192.0.2.2" || !slices.Equal(p.Networks, []string{"blue", "red"}) || p.LastSeenSeconds == nil ||
		p.RxDatagrams != 1 || p.TxDatagrams != 1 || p.RxBytes == 0 || p.TxBytes == 0 {
		t.Errorf("peer = %+v, want 192.0.2.2 in blue and red, seen, one datagram each way", p)
	}
}

// waitStats polls the stats until ok accepts them.
func waitStats(t *testing.T, c *Client, ok func(*Stats) bool) *Stats {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		st, err := c.Stats(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never got there: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func datagram(vni uint32, frame []byte) []byte {
	b := make([]byte, vtep.HeaderLen+len(frame))
	vtep.PutHeader(b[:vtep.HeaderLen], vni)
	copy(b[vtep.HeaderLen:], frame)
	return b
}

func TestStats(t *testing.T) {
	tb := newTestbed(t)
	tb.exchange()
	frame := udpFrame(t, mac(7), mac(1), ip(7), ip(1), 1, 2)
	tb.under.Inject(netip.AddrPortFrom(vtep9, 4789), vtep1, datagram(999, frame))     // unknown VNI
	tb.under.Inject(netip.AddrPortFrom(vtep9, 4789), vtep1, datagram(vniBlue, frame)) // unknown peer
	st := waitStats(t, tb.client, func(st *Stats) bool { return st.Total.Dropped == 2 && st.Total.Received == 4 })

	blue := st.Networks[0]
	if blue.Name != "blue" || blue.Received != 3 || blue.Forwarded != 1 || blue.Flooded != 1 || blue.Dropped != 1 ||
		blue.Drops["unknown_peer"] != 1 || blue.MACs != 2 || blue.Neighbors != 1 {
		t.Errorf("blue = %+v, want 3 received: 1 forwarded, 1 flooded, 1 unknown_peer; 2 MACs, 1 neighbor", blue)
	}
	if st.Unmatched.Received != 1 || st.Unmatched.Drops["unknown_vni"] != 1 {
		t.Errorf("unmatched = %+v, want one unknown_vni", st.Unmatched)
	}
	if st.Total.Received != 4 || st.Total.Drops["unknown_vni"] != 1 || st.Total.Drops["unknown_peer"] != 1 || st.Total.MACs != 2 {
		t.Errorf("total = %+v, want the sum", st.Total)
	}
	for _, c := range []Counters{blue.Counters, st.Networks[1].Counters, st.Unmatched, st.Total.Counters} {
		if len(c.Drops) != len(vswitch.Reasons()) {
			t.Errorf("drops %v: want every reason of %v", c.Drops, vswitch.Reasons())
		}
	}
}

// getRaw returns the JSON document at path as generic values.
func getRaw(t *testing.T, c *Client, path string) any {
	t.Helper()
	resp, err := c.do(ctxT(t), http.MethodGet, path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestJSONShapes pins the field names of every document: scripts depend on
// them.
func TestJSONShapes(t *testing.T) {
	tb := newTestbed(t)
	tb.exchange()
	counters := []string{"dropped", "drops", "flooded", "forwarded", "not_learned_table_full", "proxied", "received"}
	withTables := append([]string{"macs", "neighbors"}, counters...)
	sort.Strings(withTables)
	network := append([]string{"name", "vni"}, withTables...)
	sort.Strings(network)
	var reasons []string
	for _, r := range vswitch.Reasons() {
		reasons = append(reasons, r.String())
	}
	sort.Strings(reasons)

	first := func(v any) any { return v.([]any)[0] }
	stats := getRaw(t, tb.client, "/v1/stats").(map[string]any)
	tests := []struct {
		name string
		v    any
		want []string
	}{
		{"fdb entry", first(getRaw(t, tb.client, "/v1/fdb")), []string{"age_seconds", "mac", "network", "source", "type", "vni", "where"}},
		{"neigh entry", first(getRaw(t, tb.client, "/v1/neigh")), []string{"age_seconds", "ip", "mac", "network", "type", "vni"}},
		{"port", first(getRaw(t, tb.client, "/v1/ports")), []string{"drops", "ifname", "mac", "mtu", "name", "netns", "network", "rx_bytes", "rx_frames", "tx_bytes", "tx_errors", "tx_frames", "vni"}},
		{"peer", first(getRaw(t, tb.client, "/v1/peers")), []string{"last_seen_seconds", "networks", "rx_bytes", "rx_datagrams", "tx_bytes", "tx_datagrams", "tx_errors", "vtep"}},
		{"stats", stats, []string{"capture_drops", "networks", "sessions", "total", "underlay_tx_errors", "unmatched"}},
		{"stats network", stats["networks"].([]any)[0], network},
		{"stats unmatched", stats["unmatched"], counters},
		{"stats total", stats["total"], withTables},
		{"drops", stats["unmatched"].(map[string]any)["drops"], reasons},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, keys(tt.v)); diff != "" {
			t.Errorf("%s fields (-want +got):\n%s", tt.name, diff)
		}
	}
	// Static entries have no age: null, not 0.
	if age, ok := first(getRaw(t, tb.client, "/v1/neigh")).(map[string]any)["age_seconds"]; !ok || age != nil {
		t.Errorf("static neighbor age_seconds = %v, want null", age)
	}
}

func TestExplain(t *testing.T) {
	tb := newTestbed(t)
	ctx := ctxT(t)
	frame := arpRequest(t, mac(1), ip(1), ip(9))
	ex, err := tb.client.Explain(ctx, ExplainRequest{Port: "c1-eth1", Frame: hex.EncodeToString(frame)})
	if err != nil {
		t.Fatal(err)
	}
	want := Verdict{Action: "proxy", Port: "c1-eth1", Decision: "proxied"}
	if diff := cmp.Diff(want, ex.Verdict); diff != "" {
		t.Errorf("verdict mismatch (-want +got):\n%s", diff)
	}
	if text := strings.Join(ex.Steps, "\n"); !strings.Contains(text, "ARP proxy: who-has 10.0.1.9 tell 10.0.1.1") {
		t.Errorf("steps do not show the proxy:\n%s", text)
	}

	dg := hex.EncodeToString(datagram(999, frame))
	ex, err = tb.client.Explain(ctx, ExplainRequest{Underlay: true, From: "192.0.2.2", Datagram: dg})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Verdict.Decision != "drop: unknown_vni" || ex.Verdict.Reason != "unknown_vni" {
		t.Errorf("verdict %+v, want drop: unknown_vni", ex.Verdict)
	}

	for _, tt := range []struct {
		name       string
		req        ExplainRequest
		wantStatus int
		wantErr    string
	}{
		{"bad hex", ExplainRequest{Port: "c1-eth1", Frame: "xyz"}, 400, "explain: frame: not hex"},
		{"no port", ExplainRequest{Frame: "00"}, 400, "give port and frame"},
		{"unknown port", ExplainRequest{Port: "c9", Frame: "00"}, 404, `explain: no port "c9" (ports: c1-eth1, r1-eth1)`},
		{"bad from", ExplainRequest{Underlay: true, From: "vtep2", Datagram: "00"}, 400, `explain: from: "vtep2" is not ADDR or ADDR:PORT`},
		{"mixed", ExplainRequest{Underlay: true, Port: "c1-eth1", From: "192.0.2.2", Datagram: "00"}, 400, "give either port and frame"},
	} {
		_, err := tb.client.Explain(ctx, tt.req)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tt.wantStatus || !strings.Contains(ae.Message, tt.wantErr) {
			t.Errorf("%s: error %v, want %d containing %q", tt.name, err, tt.wantStatus, tt.wantErr)
		}
	}
}

func TestUnknownEndpoint(t *testing.T) {
	tb := newTestbed(t)
	_, err := tb.client.do(ctxT(t), http.MethodGet, "/v1/nothing", nil, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Message != "no endpoint GET /v1/nothing" {
		t.Errorf("error %v, want 404 no endpoint", err)
	}
}

func TestClientWithoutServer(t *testing.T) {
	c := NewClient(t.TempDir() + "/none.sock")
	_, err := c.Stats(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "none.sock") || !strings.Contains(err.Error(), "is vxswitch running") {
		t.Errorf("error %v, want the socket named and a hint", err)
	}
}

// TestAuthorize checks the SO_PEERCRED rule: root and the daemon's own
// user pass, anyone else and connections without credentials do not.
func TestAuthorize(t *testing.T) {
	s := &Server{uid: 1000, log: zap.NewNop()}
	ok := s.authorize(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	for _, tt := range []struct {
		name string
		cred *unix.Ucred
		want int
	}{
		{"root", &unix.Ucred{Uid: 0, Pid: 1}, 200},
		{"own uid", &unix.Ucred{Uid: 1000, Pid: 2}, 200},
		{"nobody", &unix.Ucred{Uid: 65534, Pid: 3}, 403},
		{"other user", &unix.Ucred{Uid: 1001, Pid: 4}, 403},
		{"no credentials", nil, 403},
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/stats", nil)
		if tt.cred != nil {
			r = r.WithContext(context.WithValue(r.Context(), credKey{}, tt.cred))
		}
		w := httptest.NewRecorder()
		ok.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, w.Code, tt.want, w.Body)
		}
		if tt.want == 403 && tt.cred != nil && !strings.Contains(w.Body.String(), "is not allowed: the admin API serves root and uid 1000 only") {
			t.Errorf("%s: body %s", tt.name, w.Body)
		}
	}
}

// TestPeerCredentialsReachHandlers checks that the listener records the
// credentials of a real connection: this test's own uid is let in.
func TestPeerCredentialsReachHandlers(t *testing.T) {
	sock := t.TempDir() + "/admin.sock"
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *unix.Ucred, 1)
	s := &Server{uid: uint32(os.Getuid()), log: zap.NewNop()}
	srv := &http.Server{ConnContext: connContext, Handler: s.authorize(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- peerFrom(r.Context())
	}))}
	go srv.Serve(ln)
	defer srv.Close()
	if _, err := NewClient(sock).do(ctxT(t), http.MethodGet, "/", nil, nil); err != nil {
		t.Fatal(err)
	}
	if cred := <-seen; cred == nil || cred.Uid != uint32(os.Getuid()) || cred.Pid != int32(os.Getpid()) {
		t.Errorf("credentials %+v, want uid %d pid %d", cred, os.Getuid(), os.Getpid())
	}
}
