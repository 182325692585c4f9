package vswitch

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/tap"
)

// PortConfig attaches a device to a network.
type PortConfig struct {
	Name    string
	Network string
	Device  tap.Device
	// MTU is the port's MTU: frames larger than it (plus Ethernet header)
	// are dropped as oversize rather than delivered.
	MTU int
	// For display only.
	MAC    net.HardwareAddr
	Netns  string
	IfName string
}

// Port is a local port of one network.
type Port struct {
	id      uint32
	cfg     PortConfig
	dom     *domain
	dev     tap.Device
	coal    coalescer   // dev, when it can merge TCP segments
	super   superWriter // dev, when it can take TCP super-frames
	io      ioCounters
	drops   atomic.Uint64 // frames this port could not take (oversize, write errors)
	removed atomic.Bool
}

// Name is the port's configured name.
func (p *Port) Name() string { return p.cfg.Name }

func (p *Port) dest() fdb.Dest { return fdb.Dest{Kind: fdb.KindPort, ID: p.id} }

// coalescer is a device that can hold TCP segments written to it and merge
// them into one super-frame (tap.TAP with offloads).
type coalescer interface {
	WriteCoalesce(frame []byte) (int, error)
	Flush() error
}

// superWriter is a device that can take a TCP frame longer than its MTU
// and deliver it as MTU-sized segments (tap.TAP).
type superWriter interface {
	WriteTCPSuper(frame []byte) (ok bool, err error)
}

// AddPort attaches a port. Once the switch is started its reader runs at once.
func (s *Switch) AddPort(pc PortConfig) (*Port, error) {
	d := s.domainByName(pc.Network)
	if d == nil {
		return nil, fmt.Errorf("add port %q: no network %q", pc.Name, pc.Network)
	}
	if pc.Device == nil {
		return nil, fmt.Errorf("add port %q: no device", pc.Name)
	}
	if pc.MTU <= 0 {
		pc.MTU = s.maxInner - ethHeaderLen
	}
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	select {
	case <-s.closing:
		return nil, fmt.Errorf("add port %q: switch closed", pc.Name)
	default:
	}
	ps := *s.ports.Load()
	for _, q := range ps {
		if q != nil && q.cfg.Name == pc.Name {
			return nil, fmt.Errorf("add port %q: name in use", pc.Name)
		}
	}
	p := &Port{id: uint32(len(ps)), cfg: pc, dom: d, dev: pc.Device}
	p.coal, _ = pc.Device.(coalescer)
	p.super, _ = pc.Device.(superWriter)
	nextAll := append(ps[:len(ps):len(ps)], p)
	s.ports.Store(&nextAll)
	dps := *d.ports.Load()
	nextDom := append(dps[:len(dps):len(dps)], p)
	d.ports.Store(&nextDom)
	if s.running {
		s.startPortLocked(p)
	}
	s.log.Info("port added", zap.String("port", pc.Name), zap.String("network", d.name),
		zap.Uint32("vni", d.vni), zap.String("netns", pc.Netns), zap.String("ifname", pc.IfName),
		zap.Stringer("mac", hwAddr(pc.MAC)), zap.Int("mtu", pc.MTU))
	return p, nil
}

type hwAddr net.HardwareAddr

func (h hwAddr) String() string { return net.HardwareAddr(h).String() }

// RemovePort detaches a port, forgets the MACs learned on it and closes its
// device (a TAP vanishes).
func (s *Switch) RemovePort(p *Port) error {
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	return s.removePortLocked(p)
}

func (s *Switch) removePortLocked(p *Port) error {
	if p.removed.Swap(true) {
		return nil
	}
	ps := *s.ports.Load()
	nextAll := append([]*Port(nil), ps...)
	nextAll[p.id] = nil
	s.ports.Store(&nextAll)
	dps := *p.dom.ports.Load()
	nextDom := make([]*Port, 0, len(dps))
	for _, q := range dps {
		if q != p {
			nextDom = append(nextDom, q)
		}
	}
	p.dom.ports.Store(&nextDom)
	p.dom.macs.FlushDest(p.dest())
	if err := p.dev.Close(); err != nil && !errors.Is(err, tap.ErrClosed) {
		return fmt.Errorf("remove port %q: %w", p.cfg.Name, err)
	}
	return nil
}

// queueReaders is a device with several queues, each read by its own
// goroutine (tap.TAP with multi-queue).
type queueReaders interface {
	Readers() []tap.Reader
}

func (s *Switch) startPortLocked(p *Port) {
	var readers []tap.Reader
	if q, ok := p.dev.(queueReaders); ok {
		readers = q.Readers()
	}
	if len(readers) == 0 {
		readers = []tap.Reader{deviceReader{p.dev}}
	}
	for _, r := range readers {
		s.wg.Add(1)
		go s.routineReadFromPort(p, r)
	}
}

// deviceReader reads a single-queue device.
type deviceReader struct{ tap.Device }

func (d deviceReader) BatchSize() int {
	if b, ok := d.Device.(interface{ BatchSize() int }); ok {
		return b.BatchSize()
	}
	return 1
}

// PortInfo describes a port for display.
type PortInfo struct {
	Name, Network, Netns, IfName string
	MAC                          net.HardwareAddr
	MTU                          int
	IO                           IOStats
	Drops                        uint64
	// Offloads is set for a device that reports them (a tap.TAP).
	Offloads *PortOffloads
}

// PortOffloads are a TAP's mode and offload counters, for display.
type PortOffloads struct {
	Mode string // as tap.TAP.Mode: offloads and queues, and what the kernel refused
	// GSOWrites counts merged super-frames written to the port (TCP
	// segments, UDP datagrams of one flow), GSOSegments the segments in
	// them.
	GSOWrites, GSOSegments uint64
	// BadOffload counts super-frames read from the port and dropped
	// because their virtio header did not match their bytes.
	BadOffload uint64
}

// offloadDevice is a device that reports PortOffloads.
type offloadDevice interface {
	Mode() string
	Coalesced() (writes, segments uint64)
	BadOffload() uint64
}

func offloadsOf(d tap.Device) *PortOffloads {
	od, ok := d.(offloadDevice)
	if !ok {
		return nil
	}
	w, s := od.Coalesced()
	return &PortOffloads{Mode: od.Mode(), GSOWrites: w, GSOSegments: s, BadOffload: od.BadOffload()}
}

// Ports lists the attached ports.
func (s *Switch) Ports() []PortInfo {
	var out []PortInfo
	for _, p := range *s.ports.Load() {
		if p == nil {
			continue
		}
		out = append(out, PortInfo{
			Name: p.cfg.Name, Network: p.dom.name, Netns: p.cfg.Netns, IfName: p.cfg.IfName,
			MAC: p.cfg.MAC, MTU: p.cfg.MTU, IO: p.io.snapshot(), Drops: p.drops.Load(),
			Offloads: offloadsOf(p.cfg.Device),
		})
	}
	return out
}
