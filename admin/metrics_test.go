package admin

import (
	"io"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	tb := newTestbed(t)
	tb.exchange()
	tb.under.Inject(netip.AddrPortFrom(vtep9, 4789), vtep1, datagram(999, udpFrame(t, mac(7), mac(1), ip(7), ip(1), 1, 2)))
	waitStats(t, tb.client, func(st *Stats) bool { return st.Unmatched.Received == 1 && st.Total.Received == 3 })

	h := MetricsHandler(tb.h1, func() uint64 { return 7 })
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Result().Body)
	text := string(body)
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		`vxswitch_network_received_frames_total{network="blue",vni="4097"} 2`,
		`vxswitch_network_forwarded_frames_total{network="blue",vni="4097"} 1`,
		`vxswitch_network_flooded_frames_total{network="blue",vni="4097"} 1`,
		`vxswitch_network_proxied_frames_total{network="red",vni="4098"} 0`,
		`vxswitch_network_dropped_frames_total{network="blue",reason="oversize",vni="4097"} 0`,
		`vxswitch_unmatched_dropped_datagrams_total{reason="unknown_vni"} 1`,
		`vxswitch_unmatched_received_datagrams_total 1`,
		`vxswitch_fdb_entries{network="blue",vni="4097"} 2`,
		`vxswitch_neighbor_entries{network="blue",vni="4097"} 1`,
		`vxswitch_port_rx_frames_total{network="blue",port="c1-eth1"} 1`,
		`vxswitch_port_tx_frames_total{network="blue",port="c1-eth1"} 1`,
		`vxswitch_port_drops_total{network="red",port="r1-eth1"} 0`,
		`vxswitch_peer_rx_datagrams_total{vtep="192.0.2.2"} 1`,
		`vxswitch_peer_tx_datagrams_total{vtep="192.0.2.2"} 1`,
		`vxswitch_capture_drops_total 7`,
		`vxswitch_underlay_tx_errors_total 0`,
		`# TYPE vxswitch_fdb_entries gauge`,
		`# TYPE vxswitch_network_dropped_frames_total counter`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want+"") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}
