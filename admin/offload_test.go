package admin

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap/taptest"
)

// offloadTap is a fake TAP that reports offloads, as tap.TAP does.
type offloadTap struct {
	*taptest.Device
	writes, segs, bad uint64
}

func (d *offloadTap) Mode() string                         { return "vnet_hdr (tso4, tso6, uso, csum), 2 queues" }
func (d *offloadTap) Coalesced() (writes, segments uint64) { return d.writes, d.segs }
func (d *offloadTap) BadOffload() uint64                   { return d.bad }

// TestPortOffloads: a TAP's mode and offload counters reach GET /v1/ports
// and the metrics; a device without them shows none.
func TestPortOffloads(t *testing.T) {
	sw, err := vswitch.New(vswitch.Config{Local: vtep1, MTU: 1500, Networks: []vswitch.NetworkConfig{
		{Name: "blue", VNI: vniBlue, Learning: true, Ageing: time.Minute, MaxMACs: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	for _, pc := range []vswitch.PortConfig{
		{Name: "o1", Network: "blue", Device: &offloadTap{Device: taptest.New("o1"), writes: 3, segs: 120, bad: 2}, MAC: mac(1)},
		{Name: "p1", Network: "blue", Device: taptest.New("p1"), MAC: mac(2)},
	} {
		if _, err := sw.AddPort(pc); err != nil {
			t.Fatal(err)
		}
	}
	srv := NewServer(sw, Options{})
	w := httptest.NewRecorder()
	srv.handlePorts(w, httptest.NewRequest("GET", "/v1/ports", nil))
	var ports []PortEntry
	if err := json.Unmarshal(w.Body.Bytes(), &ports); err != nil {
		t.Fatal(err)
	}
	want := map[string]*PortOffload{
		"o1": {Mode: "vnet_hdr (tso4, tso6, uso, csum), 2 queues", GSOWrites: 3, GSOSegments: 120, BadOffload: 2},
		"p1": nil,
	}
	if len(ports) != 2 {
		t.Fatalf("%d ports, want 2: %s", len(ports), w.Body)
	}
	for _, p := range ports {
		got, exp := p.Offload, want[p.Name]
		if (got == nil) != (exp == nil) || got != nil && *got != *exp {
			t.Errorf("port %s: offload %+v, want %+v", p.Name, got, exp)
		}
	}
	if !strings.Contains(w.Body.String(), `"offload":{"mode":"vnet_hdr (tso4, tso6, uso, csum), 2 queues","gso_writes":3,"gso_segments":120,"bad_offload":2}`) {
		t.Errorf("JSON lacks o1's offload object: %s", w.Body)
	}

	m := httptest.NewRecorder()
	MetricsHandler(sw, nil).ServeHTTP(m, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(m.Result().Body)
	for _, line := range []string{
		`vxswitch_port_gso_writes_total{network="blue",port="o1"} 3`,
		`vxswitch_port_gso_segments_total{network="blue",port="o1"} 120`,
		`vxswitch_port_bad_offload_total{network="blue",port="o1"} 2`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("metrics lack %q", line)
		}
	}
	if strings.Contains(string(body), `port_gso_writes_total{network="blue",port="p1"}`) {
		t.Errorf("metrics report GSO writes for p1, which has no offloads")
	}
}
