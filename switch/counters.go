package vswitch

import "sync/atomic"

// Action is what the switch did with one frame.
type Action uint8

// Actions. Each received frame ends in exactly one.
const (
	ActionDrop Action = iota
	// ActionPort: unicast to one local port.
	ActionPort
	// ActionVTEP: unicast to one remote VTEP.
	ActionVTEP
	// ActionFlood: copies to local ports and/or remote VTEPs.
	ActionFlood
	// ActionProxy: answered by the switch's ARP proxy.
	ActionProxy
)

func (a Action) String() string {
	switch a {
	case ActionDrop:
		return "drop"
	case ActionPort:
		return "port"
	case ActionVTEP:
		return "vtep"
	case ActionFlood:
		return "flood"
	case ActionProxy:
		return "proxy"
	}
	return "unknown"
}

// counters are one scope's frame outcomes (a network, or the switch-wide
// scope for datagrams that match no network). Updated atomically from every
// data-path goroutine.
type counters struct {
	rx        atomic.Uint64
	forwarded atomic.Uint64 // ActionPort and ActionVTEP
	flooded   atomic.Uint64
	proxied   atomic.Uint64
	drops     [numReasons]atomic.Uint64
}

func (c *counters) count(v Verdict) {
	c.rx.Add(1)
	switch v.Action {
	case ActionPort, ActionVTEP:
		c.forwarded.Add(1)
	case ActionFlood:
		c.flooded.Add(1)
	case ActionProxy:
		c.proxied.Add(1)
	default:
		c.drops[v.Reason].Add(1)
	}
}

// Stats is a snapshot of one scope's counters.
type Stats struct {
	Received  uint64
	Forwarded uint64
	Flooded   uint64
	Proxied   uint64
	// Drops by reason name; reasons with no drops are absent.
	Drops map[string]uint64
	// LearnFull counts source MACs not learned because the table was at
	// max_macs (the frames themselves were still forwarded).
	LearnFull uint64
}

// Dropped sums Drops.
func (s Stats) Dropped() uint64 {
	var n uint64
	for _, v := range s.Drops {
		n += v
	}
	return n
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Received:  c.rx.Load(),
		Forwarded: c.forwarded.Load(),
		Flooded:   c.flooded.Load(),
		Proxied:   c.proxied.Load(),
		Drops:     map[string]uint64{},
	}
	for r := range c.drops {
		if n := c.drops[r].Load(); n > 0 {
			s.Drops[Reason(r).String()] = n
		}
	}
	return s
}

// ioCounters count what one port or peer sent and received.
type ioCounters struct {
	rxFrames, rxBytes atomic.Uint64
	txFrames, txBytes atomic.Uint64
	txErrors          atomic.Uint64
}

// IOStats is a snapshot of ioCounters.
type IOStats struct {
	RxFrames, RxBytes, TxFrames, TxBytes, TxErrors uint64
}

func (c *ioCounters) snapshot() IOStats {
	return IOStats{c.rxFrames.Load(), c.rxBytes.Load(), c.txFrames.Load(), c.txBytes.Load(), c.txErrors.Load()}
}

func (c *ioCounters) rx(n int) {
	c.rxFrames.Add(1)
	c.rxBytes.Add(uint64(n))
}

func (c *ioCounters) tx(n int, err error) {
	if err != nil {
		c.txErrors.Add(1)
		return
	}
	c.txFrames.Add(1)
	c.txBytes.Add(uint64(n))
}
