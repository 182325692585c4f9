package admin

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

// collector exports the switch's counters to Prometheus. It reads them at
// scrape time (Stats, Ports, Peers), so the data path pays nothing.
type collector struct {
	sw           *vswitch.Switch
	captureDrops func() uint64

	netReceived, netForwarded, netFlooded, netProxied    *prometheus.Desc
	netDropped, netNotLearned, fdbEntries, neighEntries  *prometheus.Desc
	unmatchedReceived, unmatchedDropped                  *prometheus.Desc
	portRxFrames, portRxBytes, portTxFrames, portTxBytes *prometheus.Desc
	portTxErrors, portDrops                              *prometheus.Desc
	portGSOWrites, portGSOSegments, portBadOffload       *prometheus.Desc
	peerRxDatagrams, peerRxBytes, peerTxDatagrams        *prometheus.Desc
	peerTxBytes, peerTxErrors, captureDropsDesc          *prometheus.Desc
	underlayTxErrors                                     *prometheus.Desc
	gsoMessages, gsoDatagrams, groRuns, groDatagrams     *prometheus.Desc
	gsoSockets, gsoPortsRefused                          *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

// NewCollector returns a Prometheus collector for sw's counters and table
// sizes; captureDrops (may be nil) supplies vxswitch_capture_drops_total.
func NewCollector(sw *vswitch.Switch, captureDrops func() uint64) prometheus.Collector {
	network := []string{"network", "vni"}
	port := []string{"port", "network"}
	peer := []string{"vtep"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("vxswitch_"+name, help, labels, nil)
	}
	return &collector{
		sw: sw, captureDrops: captureDrops,
		netReceived:       d("network_received_frames_total", "Frames and datagrams received in a network.", network...),
		netForwarded:      d("network_forwarded_frames_total", "Frames sent to one local port or one remote VTEP.", network...),
		netFlooded:        d("network_flooded_frames_total", "Frames flooded to other ports and the flood list.", network...),
		netProxied:        d("network_proxied_frames_total", "ARP requests and neighbor solicitations the switch answered.", network...),
		netDropped:        d("network_dropped_frames_total", "Frames dropped, by reason.", append(network, "reason")...),
		netNotLearned:     d("network_not_learned_total", "Source MACs not learned because the MAC table was full.", network...),
		fdbEntries:        d("fdb_entries", "Entries in a network's MAC table.", network...),
		neighEntries:      d("neighbor_entries", "Entries in a network's neighbor table.", network...),
		unmatchedReceived: d("unmatched_received_datagrams_total", "Underlay datagrams that matched no network."),
		unmatchedDropped:  d("unmatched_dropped_datagrams_total", "Underlay datagrams that matched no network, by drop reason.", "reason"),
		portRxFrames:      d("port_rx_frames_total", "Frames read from a local port.", port...),
		portRxBytes:       d("port_rx_bytes_total", "Bytes read from a local port.", port...),
		portTxFrames:      d("port_tx_frames_total", "Frames written to a local port.", port...),
		portTxBytes:       d("port_tx_bytes_total", "Bytes written to a local port.", port...),
		portTxErrors:      d("port_tx_errors_total", "Failed writes to a local port.", port...),
		portDrops:         d("port_drops_total", "Frames a local port could not take (oversize, write errors).", port...),
		portGSOWrites:     d("port_gso_writes_total", "Merged super-frames written to a local port (TCP segments, UDP datagrams of one flow).", port...),
		portGSOSegments:   d("port_gso_segments_total", "Segments in the merged super-frames written to a local port.", port...),
		portBadOffload:    d("port_bad_offload_total", "Super-frames read from a local port and dropped: virtio header inconsistent with the frame.", port...),
		peerRxDatagrams:   d("peer_rx_datagrams_total", "VXLAN datagrams received from a remote VTEP.", peer...),
		peerRxBytes:       d("peer_rx_bytes_total", "VXLAN bytes (header and inner frame) received from a remote VTEP.", peer...),
		peerTxDatagrams:   d("peer_tx_datagrams_total", "VXLAN datagrams sent to a remote VTEP.", peer...),
		peerTxBytes:       d("peer_tx_bytes_total", "VXLAN bytes (header and inner frame) sent to a remote VTEP.", peer...),
		peerTxErrors:      d("peer_tx_errors_total", "Failed sends to a remote VTEP.", peer...),
		underlayTxErrors:  d("underlay_tx_errors_total", "Datagrams the kernel refused after their frames were counted as forwarded."),
		gsoMessages:       d("underlay_gso_messages_total", "Runs of datagrams sent as one UDP GSO send."),
		gsoDatagrams:      d("underlay_gso_datagrams_total", "Datagrams sent in UDP GSO runs."),
		groRuns:           d("underlay_gro_runs_total", "Receives that held a run of datagrams (UDP GRO)."),
		groDatagrams:      d("underlay_gro_datagrams_total", "Datagrams received in UDP GRO runs."),
		gsoSockets:        d("underlay_gso_sockets", "Per-source-port sockets open for UDP GSO."),
		gsoPortsRefused:   d("underlay_gso_ports_refused", "Source ports no GSO socket could be opened for; their runs go out one by one."),
		captureDropsDesc:  d("capture_drops_total", "Events captures and traces could not keep up with (forwarding never waits for them)."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.netReceived, c.netForwarded, c.netFlooded, c.netProxied, c.netDropped, c.netNotLearned,
		c.fdbEntries, c.neighEntries, c.unmatchedReceived, c.unmatchedDropped,
		c.portRxFrames, c.portRxBytes, c.portTxFrames, c.portTxBytes, c.portTxErrors, c.portDrops,
		c.portGSOWrites, c.portGSOSegments, c.portBadOffload,
		c.peerRxDatagrams, c.peerRxBytes, c.peerTxDatagrams, c.peerTxBytes, c.peerTxErrors, c.captureDropsDesc, c.underlayTxErrors,
		c.gsoMessages, c.gsoDatagrams, c.groRuns, c.groDatagrams, c.gsoSockets, c.gsoPortsRefused,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	nets, unmatched := c.sw.Stats()
	for _, n := range nets {
		vni := strconv.FormatUint(uint64(n.VNI), 10)
		st := n.Stats
		counter(c.netReceived, st.Received, n.Name, vni)
		counter(c.netForwarded, st.Forwarded, n.Name, vni)
		counter(c.netFlooded, st.Flooded, n.Name, vni)
		counter(c.netProxied, st.Proxied, n.Name, vni)
		counter(c.netNotLearned, st.LearnFull, n.Name, vni)
		for _, r := range vswitch.Reasons() {
			counter(c.netDropped, st.Drops[r.String()], n.Name, vni, r.String())
		}
		gauge(c.fdbEntries, n.MACs, n.Name, vni)
		gauge(c.neighEntries, n.Neighbors, n.Name, vni)
	}
	counter(c.unmatchedReceived, unmatched.Received)
	for _, r := range vswitch.Reasons() {
		counter(c.unmatchedDropped, unmatched.Drops[r.String()], r.String())
	}
	for _, p := range c.sw.Ports() {
		counter(c.portRxFrames, p.IO.RxFrames, p.Name, p.Network)
		counter(c.portRxBytes, p.IO.RxBytes, p.Name, p.Network)
		counter(c.portTxFrames, p.IO.TxFrames, p.Name, p.Network)
		counter(c.portTxBytes, p.IO.TxBytes, p.Name, p.Network)
		counter(c.portTxErrors, p.IO.TxErrors, p.Name, p.Network)
		counter(c.portDrops, p.Drops, p.Name, p.Network)
		if o := p.Offloads; o != nil {
			counter(c.portGSOWrites, o.GSOWrites, p.Name, p.Network)
			counter(c.portGSOSegments, o.GSOSegments, p.Name, p.Network)
			counter(c.portBadOffload, o.BadOffload, p.Name, p.Network)
		}
	}
	for _, p := range c.sw.Peers() {
		a := p.Addr.String()
		counter(c.peerRxDatagrams, p.IO.RxFrames, a)
		counter(c.peerRxBytes, p.IO.RxBytes, a)
		counter(c.peerTxDatagrams, p.IO.TxFrames, a)
		counter(c.peerTxBytes, p.IO.TxBytes, a)
		counter(c.peerTxErrors, p.IO.TxErrors, a)
	}
	counter(c.underlayTxErrors, c.sw.UnderlayTxErrors())
	if u, ok := c.sw.UnderlayOffloads(); ok {
		counter(c.gsoMessages, u.GSOMessages)
		counter(c.gsoDatagrams, u.GSODatagrams)
		counter(c.groRuns, u.GRORuns)
		counter(c.groDatagrams, u.GRODatagrams)
		gauge(c.gsoSockets, u.GSOSockets)
		gauge(c.gsoPortsRefused, u.GSOPortsRefused)
	}
	var drops uint64
	if c.captureDrops != nil {
		drops = c.captureDrops()
	}
	counter(c.captureDropsDesc, drops)
}

// MetricsHandler serves /metrics in the Prometheus text format: the
// switch's collector and the Go runtime's and process's standard metrics.
func MetricsHandler(sw *vswitch.Switch, captureDrops func() uint64) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(sw, captureDrops),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
