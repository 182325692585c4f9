package fuzz

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vxswitch/vxswitch/vtep"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the kernel-* and regression-* files of the committed fuzz corpora (kernel ones from ../testdata/kernel-vxlan-*.txt)")

// corpusEntry is one file of a committed fuzz corpus.
type corpusEntry struct {
	dir, name string
	args      []any
}

// encodeCorpus writes args in the format of go test's corpus files
// ("go test fuzz v1", then one Go literal per argument).
func encodeCorpus(args ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		default:
			panic(fmt.Sprintf("corpus: no encoding for %T", a))
		}
	}
	return b.Bytes()
}

// kernelCorpus is what every codec and switch fuzz target starts from: each
// datagram the Linux kernel emitted (ARP request and reply, gratuitous ARP,
// IPv6 NS, NA and MLD, 802.1Q-tagged, UDP and TCP, a jumbo frame, over IPv4
// and IPv6 underlays), shaped for each target's arguments, plus runts cut
// from one of them.
func kernelCorpus(t *testing.T) []corpusEntry {
	var out []corpusEntry
	add := func(name string, d []byte) {
		name = "kernel-" + strings.ReplaceAll(strings.TrimPrefix(name, "kernel-vxlan-"), "/", "-")
		red := append([]byte(nil), d...)
		if len(red) >= vtep.HeaderLen {
			vtep.PutHeader(red, networks[nRed].vni)
		}
		out = append(out,
			corpusEntry{"../vtep/testdata/fuzz/FuzzParse", name, []any{d, false}},
			corpusEntry{"../vtep/testdata/fuzz/FuzzHeaderRoundTrip", name, []any{d, uint32(4097)}},
			corpusEntry{"../vtep/testdata/fuzz/FuzzVXLANDifferential", name, []any{d, true}},
			corpusEntry{"../switch/testdata/fuzz/FuzzFromUnderlay", name, []any{d, byte(2)}},
			corpusEntry{"testdata/fuzz/FuzzUnderlayDatagram", name, []any{cat(rawEv(sPeer2, d), rawEv(sStranger, red), rawEv(sPeer3, d))}},
		)
		if len(d) >= vtep.HeaderLen {
			out = append(out, corpusEntry{"testdata/fuzz/FuzzPortFrame", name, []any{d[vtep.HeaderLen:]}})
		}
	}
	var arp []byte
	for _, k := range kernelDatagrams(t) {
		add(k.name, k.payload)
		if strings.HasSuffix(k.name, "ipv4/arp-request") {
			arp = k.payload
		}
	}
	if arp == nil {
		t.Fatal("no kernel ARP request in ../testdata/kernel-vxlan-ipv4.txt")
	}
	add("runt-header", arp[:vtep.HeaderLen-1])
	add("runt-inner", arp[:vtep.HeaderLen+13])
	return append(out, regressionCorpus()...)
}

// regressionCorpus are the inputs with which FuzzUnderlayDatagram found
// bugs, kept as named rows. In each, a sender whose address no VTEP can
// have writes into red (allow_unknown_peers), then a port answers it: before
// Switch.canBePeer, the stranger became a peer and the answer was sent to
// it — an IPv6 address from an IPv4 switch, the broadcast or a multicast
// address, or this switch itself.
func regressionCorpus() []corpusEntry {
	ipv4 := make([]byte, 28)
	ipv4[0], ipv4[9] = 0x45, 17
	var out []corpusEntry
	for _, r := range []struct {
		name string
		src  byte // see srcAddr
	}{
		{"ipv6-sender-became-peer", 0xf2},
		{"unspecified-sender-became-peer", 0xf3},
		{"broadcast-sender-became-peer", 0xf4},
		{"multicast-sender-became-peer", 0xf5},
		{"own-address-sender-became-peer", sSelf},
		{"mapped-own-address-sender-became-peer", 0xfc},
	} {
		in := cat(tmplEv(0, r.src, nRed, macs(12, 3), 0, ipv4), portEv(0, pR1, macs(3, 1), 0, ipv4))
		out = append(out, corpusEntry{"testdata/fuzz/FuzzUnderlayDatagram", "regression-" + r.name, []any{in}})
	}
	return out
}

// TestKernelCorpus checks that the committed corpora hold the kernel's
// datagrams, as of ../testdata, and the regression rows; with
// -update-corpus it writes them.
func TestKernelCorpus(t *testing.T) {
	for _, e := range kernelCorpus(t) {
		path := filepath.Join(e.dir, e.name)
		want := encodeCorpus(e.args...)
		if *updateCorpus {
			if err := os.MkdirAll(e.dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("corpus file %s missing or stale (%v): run go test ./fuzz -run TestKernelCorpus -update-corpus", path, err)
		}
	}
}
