package tap

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ipv6ReadyTimeout bounds the wait for the kernel to finish setting up IPv6
// addresses; it normally takes well under a millisecond.
const ipv6ReadyTimeout = 5 * time.Second

// ipv6Watch tells when the kernel has finished adding IPv6 addresses.
//
// IFA_F_NODAD makes an address valid at once, but the kernel joins its
// solicited-node multicast group later, from a workqueue; until then it drops
// neighbor solicitations for the address, so a peer's first one goes
// unanswered. The work ends by announcing RTM_NEWADDR, which for a NODAD
// address is the first announcement of all, so seeing it means the address
// answers.
type ipv6Watch struct {
	s *nl.NetlinkSocket
}

// watchIPv6Addrs subscribes to IPv6 address announcements in ns. Call it
// before adding the addresses, so no announcement is missed.
func watchIPv6Addrs(ns netns.NsHandle) (*ipv6Watch, error) {
	s, err := nl.SubscribeAt(ns, netns.None(), unix.NETLINK_ROUTE, unix.RTNLGRP_IPV6_IFADDR)
	if err != nil {
		return nil, err
	}
	return &ipv6Watch{s: s}, nil
}

func (w *ipv6Watch) Close() { w.s.Close() }

// wait returns once every address in want has been announced on the link
// with index ifindex.
func (w *ipv6Watch) wait(ifindex int, want []netip.Addr, timeout time.Duration) error {
	pending := make(map[netip.Addr]bool, len(want))
	for _, a := range want {
		pending[a] = true
	}
	deadline := time.Now().Add(timeout)
	for len(pending) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("no announcement within %v", timeout)
		}
		// A zero timeval would mean no timeout at all.
		tv := unix.NsecToTimeval(max(left, time.Millisecond).Nanoseconds())
		if err := w.s.SetReceiveTimeout(&tv); err != nil {
			return err
		}
		msgs, _, err := w.s.Receive()
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if a, ok := announcedAddr(m.Header.Type, m.Data, ifindex); ok {
				delete(pending, a)
			}
		}
	}
	return nil
}

// announcedAddr returns the address an RTM_NEWADDR message for ifindex
// announces.
func announcedAddr(typ uint16, data []byte, ifindex int) (netip.Addr, bool) {
	if typ != unix.RTM_NEWADDR || len(data) < unix.SizeofIfAddrmsg {
		return netip.Addr{}, false
	}
	if int(nl.DeserializeIfAddrmsg(data).Index) != ifindex {
		return netip.Addr{}, false
	}
	attrs, err := nl.ParseRouteAttr(data[unix.SizeofIfAddrmsg:])
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.IFA_ADDRESS {
			return netip.AddrFromSlice(a.Value)
		}
	}
	return netip.Addr{}, false
}
