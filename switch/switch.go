package vswitch

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/vtep"
)

// Headroom is the offset at which ports read frames: room to write the outer
// UDP and VXLAN headers in place in front of the frame.
const Headroom = vtep.UDPHeaderLen + vtep.HeaderLen

// maxFrameBuf is the size of a frame buffer after its headroom: a TAP never
// hands over more than 64 KiB.
const maxFrameBuf = 65536

// Config configures a Switch. cmd builds it from the YAML configuration.
type Config struct {
	// Local is this VTEP's underlay address; MTU the underlay MTU.
	Local netip.Addr
	MTU   int
	// Strict drops VXLAN datagrams with reserved bits set.
	Strict bool
	// SrcPorts is the outer UDP source port range.
	SrcPorts vtep.PortRange
	Networks []NetworkConfig
	Logger   *zap.Logger
	// Now is the clock, in nanoseconds; tests inject one. Default: a
	// monotonic clock.
	Now func() int64
}

// NetworkConfig configures one bridge domain.
type NetworkConfig struct {
	Name              string
	VNI               uint32
	Flood             []netip.Addr
	AllowUnknownPeers bool
	Learning          bool
	ARPProxy          bool
	Ageing            time.Duration
	MaxMACs           int
	StaticMACs        []StaticMAC
	Neighbors         []Neighbor
}

// StaticMAC pins a MAC behind a remote VTEP.
type StaticMAC struct {
	MAC  fdb.MAC
	VTEP netip.Addr
}

// Neighbor is a static neighbor-table entry for the ARP proxy.
type Neighbor struct {
	IP  netip.Addr
	MAC fdb.MAC
}

// Switch is the forwarding plane. Construct it with New, add ports, then
// Start it with an underlay.
type Switch struct {
	log      *zap.Logger
	now      func() int64
	local    netip.Addr
	strict   bool
	srcPorts vtep.PortRange
	// maxInner is the largest inner frame that fits the underlay MTU.
	maxInner int

	// domains never change after New, so lookups need no lock.
	byVNI   map[uint32]*domain
	domains []*domain
	global  counters // datagrams that match no network
	// txErrors counts queued datagrams the underlay refused at flush.
	txErrors atomic.Uint64

	peers peerTable
	// peerIdle is how long a peer that came in through
	// allow_unknown_peers may stay silent before it expires (the longest
	// MAC ageing of those networks), and how long its ID rests after.
	peerIdle time.Duration

	portsMu sync.Mutex              // serialises port changes
	ports   atomic.Pointer[[]*Port] // by port ID, nil where removed

	underlay vtep.Underlay
	// fixedSourcePort: the underlay ignores per-flow source ports.
	fixedSourcePort bool
	running         bool // guarded by portsMu

	obsMu     sync.Mutex // serialises Subscribe
	observers atomic.Pointer[[]Observer]
	closing   chan struct{}
	wg        sync.WaitGroup
}

// New builds a switch with its networks and static tables.
func New(cfg Config) (*Switch, error) {
	if !cfg.Local.IsValid() {
		return nil, errors.New("new switch: no local underlay address")
	}
	s := &Switch{
		log:      cfg.Logger,
		now:      cfg.Now,
		local:    cfg.Local.Unmap(),
		strict:   cfg.Strict,
		srcPorts: cfg.SrcPorts,
		byVNI:    map[uint32]*domain{},
		closing:  make(chan struct{}),
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		start := time.Now()
		s.now = func() int64 { return int64(time.Since(start)) }
	}
	if s.srcPorts == (vtep.PortRange{}) {
		s.srcPorts = vtep.DefaultPortRange
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = 1500
	}
	// The underlay MTU covers outer IP, UDP and VXLAN headers and the
	// inner frame (RFC 7348 §4.3).
	ipHeader := 20
	if s.local.Is6() {
		ipHeader = 40
	}
	s.maxInner = mtu - ipHeader - vtep.UDPHeaderLen - vtep.HeaderLen
	s.ports.Store(&[]*Port{})
	s.peers.init()
	for _, nc := range cfg.Networks {
		if _, dup := s.byVNI[nc.VNI]; dup {
			return nil, fmt.Errorf("new switch: network %q: VNI %d used twice", nc.Name, nc.VNI)
		}
		d, err := s.newDomain(nc)
		if err != nil {
			return nil, fmt.Errorf("new switch: network %q: %w", nc.Name, err)
		}
		s.byVNI[nc.VNI] = d
		s.domains = append(s.domains, d)
		if nc.AllowUnknownPeers {
			s.peerIdle = max(s.peerIdle, d.macs.Ageing())
		}
	}
	return s, nil
}

// Start runs the data plane over underlay: one reader per port and one for
// the underlay, and the ageing routine. Close stops it.
func (s *Switch) Start(underlay vtep.Underlay) {
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	s.underlay = underlay
	if pf, ok := underlay.(interface{ PerFlowSourcePort() bool }); ok {
		s.fixedSourcePort = !pf.PerFlowSourcePort()
	}
	s.running = true
	s.wg.Add(2)
	go s.routineReadFromUnderlay()
	go s.routineAgeing()
	for _, p := range *s.ports.Load() {
		if p != nil {
			s.startPortLocked(p)
		}
	}
	s.log.Info("switch started", zap.Stringer("underlay", underlay.LocalAddr()),
		zap.Int("networks", len(s.domains)), zap.Int("max_inner_frame", s.maxInner))
}

// Close stops the data plane: it closes the underlay and every port
// (unblocking their readers, and removing the TAPs), then waits for the
// goroutines to end.
func (s *Switch) Close() error {
	s.portsMu.Lock()
	select {
	case <-s.closing:
		s.portsMu.Unlock()
		return nil
	default:
	}
	close(s.closing)
	var errs []error
	if s.underlay != nil {
		errs = append(errs, s.underlay.Close())
	}
	for _, p := range *s.ports.Load() {
		if p != nil {
			errs = append(errs, s.removePortLocked(p))
		}
	}
	s.portsMu.Unlock()
	s.wg.Wait()
	s.log.Info("switch stopped")
	return errors.Join(errs...)
}

// domainByName finds a network by name; nil if none.
func (s *Switch) domainByName(name string) *domain {
	for _, d := range s.domains {
		if d.name == name {
			return d
		}
	}
	return nil
}

// portByID resolves a port ID from the FDB; nil if removed.
func (s *Switch) portByID(id uint32) *Port {
	ps := *s.ports.Load()
	if int(id) < len(ps) {
		return ps[id]
	}
	return nil
}
