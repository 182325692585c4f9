// Package daemon assembles a running vxswitch from a configuration: the
// underlay socket, the switch with its networks, and a TAP port per
// configured port. The CLI and the integration tests share it.
package daemon

import (
	"fmt"
	"runtime"

	"go.uber.org/zap"

	"github.com/vxswitch/vxswitch/config"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap"
	"github.com/vxswitch/vxswitch/vtep"
)

// Options are run-time choices that are not part of the configuration file.
type Options struct {
	// FixedSourcePort sends every datagram from the VXLAN port (no raw
	// socket).
	FixedSourcePort bool
	// NoTAPOffload opens TAPs without virtio headers (no TSO/checksum
	// offload), one frame per read.
	NoTAPOffload bool
	// NoTAPUSO keeps the other TAP offloads but not UDP segmentation
	// offload: datagrams go to the TAPs one write each.
	NoTAPUSO bool
	// NoUDPGSO sends every underlay datagram as its own message; NoUDPGRO
	// receives them one by one.
	NoUDPGSO, NoUDPGRO bool
	// TAPQueues is the number of queues of each TAP, each read by its own
	// goroutine; 0 means one per CPU (at most maxDefaultQueues).
	TAPQueues int
	// TAPTxQueueLen is each TAP's txqueuelen (see tap.Config.TxQueueLen);
	// 0 means DefaultTAPTxQueueLen.
	TAPTxQueueLen int
	Logger        *zap.Logger
}

// DefaultTAPTxQueueLen is the TAPs' txqueuelen unless told otherwise: a
// NIC ring's worth rather than the kernel's 1000, since a TAP drops what a
// container sends past it while its reader waits for a CPU (measured:
// with iperf3's sender and vxswitch on one CPU, about 1.2% of 235 kpps
// dropped in the TAP at 1000, none at 4096).
const DefaultTAPTxQueueLen = 4096

// maxDefaultQueues bounds the default TAP queue count on large machines:
// each queue's reader holds 64 frame buffers of 64 KiB.
const maxDefaultQueues = 8

// Daemon is a started switch and its underlay.
type Daemon struct {
	Switch   *vswitch.Switch
	Underlay *vtep.Conn
	Config   *config.Config
	log      *zap.Logger
}

// Start opens the underlay and every port and starts forwarding. The
// sockets and TAPs are created in the calling thread's network namespace
// (TAPs are then moved into their containers' namespaces). On error
// everything opened so far is closed again, so no TAP is left behind.
func Start(cfg *config.Config, o Options) (*Daemon, error) {
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	u := cfg.Underlay
	conn, err := vtep.Listen(vtep.Options{
		Local: u.Local, Port: u.Port, FixedSourcePort: o.FixedSourcePort, NoGSO: o.NoUDPGSO, NoGRO: o.NoUDPGRO,
	})
	if err != nil {
		return nil, err
	}
	log.Info("underlay open", zap.Stringer("local", conn.LocalAddr()), zap.Int("mtu", u.MTU),
		zap.String("mode", conn.Mode()), zap.Int("receive_buffer", conn.ReceiveBuffer()), zap.Bool("strict", u.Strict))
	sw, err := vswitch.New(SwitchConfig(cfg, log))
	if err != nil {
		conn.Close()
		return nil, err
	}
	for i := range cfg.Ports {
		if err := AddPort(sw, &cfg.Ports[i], o, log); err != nil {
			sw.Close()
			conn.Close()
			return nil, err
		}
	}
	sw.Start(conn)
	return &Daemon{Switch: sw, Underlay: conn, Config: cfg, log: log}, nil
}

// Close stops forwarding and removes the TAPs.
func (d *Daemon) Close() error { return d.Switch.Close() }

// AddPort opens the TAP for p, with the offloads o leaves on where the
// kernel agrees, and with o.TAPQueues queues (0: one per CPU), and attaches
// it to the switch.
func AddPort(sw *vswitch.Switch, p *config.Port, o Options, log *zap.Logger) error {
	queues := o.TAPQueues
	if queues <= 0 {
		queues = min(runtime.NumCPU(), maxDefaultQueues)
	}
	qlen := o.TAPTxQueueLen
	if qlen <= 0 {
		qlen = DefaultTAPTxQueueLen
	}
	dev, err := tap.Open(tap.Config{
		Name: p.Name, Netns: p.NetnsPath(), IfName: p.IfName,
		MAC: p.MAC, MTU: p.MTU, Addresses: p.Addresses, Offload: !o.NoTAPOffload, USO: !o.NoTAPUSO, Queues: queues,
		TxQueueLen: qlen,
	})
	if err != nil {
		return err
	}
	log.Info("tap open", zap.String("port", p.Name), zap.String("mode", dev.Mode()), zap.Int("txqueuelen", qlen))
	_, err = sw.AddPort(vswitch.PortConfig{
		Name: p.Name, Network: p.Network, Device: dev, MTU: p.MTU,
		MAC: dev.MAC(), Netns: p.NetnsPath(), IfName: p.IfName,
	})
	if err != nil {
		dev.Close()
		return fmt.Errorf("port %q: %w", p.Name, err)
	}
	return nil
}

// SwitchConfig translates the file's networks into the switch's terms and
// logs each at info level.
func SwitchConfig(cfg *config.Config, log *zap.Logger) vswitch.Config {
	u := cfg.Underlay
	sc := vswitch.Config{
		Local: u.Local, MTU: u.MTU, Strict: u.Strict,
		SrcPorts: vtep.PortRange{Min: u.SrcPortMin, Max: u.SrcPortMax},
		Logger:   log,
	}
	for _, n := range cfg.Networks {
		nc := vswitch.NetworkConfig{
			Name: n.Name, VNI: n.VNI, Flood: n.Flood, AllowUnknownPeers: n.AllowUnknownPeers,
			Learning: n.Learning, ARPProxy: n.ARPProxy, Ageing: n.Ageing, MaxMACs: n.MaxMACs,
		}
		for _, m := range n.FDB {
			nc.StaticMACs = append(nc.StaticMACs, vswitch.StaticMAC{MAC: fdb.MAC(m.MAC), VTEP: m.VTEP})
		}
		for _, nb := range n.Neighbors {
			nc.Neighbors = append(nc.Neighbors, vswitch.Neighbor{IP: nb.IP, MAC: fdb.MAC(nb.MAC)})
		}
		sc.Networks = append(sc.Networks, nc)
		log.Info("network", zap.String("name", n.Name), zap.Uint32("vni", n.VNI),
			zap.Int("flood", len(n.Flood)), zap.Bool("learning", n.Learning), zap.Bool("arp_proxy", n.ARPProxy),
			zap.Duration("ageing", n.Ageing), zap.Int("max_macs", n.MaxMACs),
			zap.Int("static_macs", len(n.FDB)), zap.Int("static_neighbors", len(n.Neighbors)))
	}
	return sc
}
