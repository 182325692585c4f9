package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Lines shared by error cases: a valid underlay on line 1 and network on line 2.
const (
	u4 = "underlay: {local: 192.0.2.1}"
	n1 = "networks: [{name: blue, vni: 1}]"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // substring of the error, from "file:line: field:" on
	}{
		// YAML syntax and document shape.
		{"syntax keeps yaml's line", doc(u4, "networks: [{name: blue, vni: 1}"), "t.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		{"syntax line corrected to 1-based", doc(u4, "networks:", "  - name: blue", "  vni: 1"), "t.yaml:3: invalid YAML: did not find expected '-' indicator"},
		{"scanner error on line 1", doc("\tunderlay: {}"), "t.yaml:1: invalid YAML: found character that cannot start any token"},
		{"control character", doc(u4, "networks: [{name: \x01blue, vni: 1}]"), "t.yaml:2: invalid YAML: control characters are not allowed"},
		{"invalid UTF-8", doc(u4, n1, "log: {level: \xff}"), "t.yaml:3: invalid YAML: invalid leading UTF-8 octet"},
		{"unknown anchor", doc(u4, n1, "ports: *nope"), "t.yaml:3: invalid YAML: unknown anchor 'nope' referenced"},
		{"empty file", "", "t.yaml:1: empty configuration"},
		{"only comments", "# nothing here\n", "t.yaml:1: empty configuration"},
		{"null document", "---\n~\n", "t.yaml:1: empty configuration"},
		{"second document", doc(u4, n1, "---", "ports: []"), "t.yaml:3: second YAML document"},
		{"root is a list", doc("- underlay"), "t.yaml:1: expected a mapping, got a list"},
		{"root is a string", doc("underlay"), `t.yaml:1: expected a mapping, got string "underlay"`},

		// Unknown and duplicate fields at every depth.
		{"unknown root field", doc(u4, n1, "prots: []"), "t.yaml:3: prots: unknown field (known fields: underlay, networks, ports, log, admin, metrics)"},
		{"unknown underlay field", doc("underlay:", "  local: 192.0.2.1", "  lcoal: 192.0.2.2", n1), "t.yaml:3: underlay.lcoal: unknown field (known fields: local, port, mtu, strict, src_port_min, src_port_max)"},
		{"unknown network field", doc(u4, "networks:", "  - name: blue", "    vni: 1", "    flod: []"), "t.yaml:5: networks[0].flod: unknown field (known fields: name, vni, flood,"},
		{"unknown fdb field", doc(u4, "networks:", "  - name: blue", "    vni: 1", "    fdb:", "      - mac: 02:00:00:00:00:01", "        vtpe: 192.0.2.2"), "t.yaml:7: networks[0].fdb[0].vtpe: unknown field (known fields: mac, vtep)"},
		{"unknown neighbor field", doc(u4, "networks:", "  - {name: blue, vni: 1, neighbors: [{ip: 10.0.0.1, mac: 02:00:00:00:00:01, ttl: 5}]}"), "t.yaml:3: networks[0].neighbors[0].ttl: unknown field (known fields: ip, mac)"},
		{"unknown port field", doc(u4, n1, "ports:", "  - name: p", "    network: blue", "    pid: 1", "    namespace: x"), "t.yaml:7: ports[0].namespace: unknown field (known fields: name, network, netns, pid, ifname, mac, mtu, addresses)"},
		{"unknown log field", doc(u4, n1, "log: {lvl: info}"), "t.yaml:3: log.lvl: unknown field (known fields: level, format)"},
		{"odd field name is quoted", doc(u4, n1, "a b: 1"), `t.yaml:3: ["a b"]: unknown field`},
		{"non-scalar key", doc(u4, n1, "? [a]", ": 1"), "t.yaml:3: expected a field name, got a list"},
		{"duplicate field", doc(u4, "networks:", "  - name: blue", "    vni: 1", "    vni: 2"), "t.yaml:5: networks[0].vni: duplicate field (first at line 4)"},
		{"duplicate section", doc(u4, n1, "underlay: {local: 192.0.2.9}"), "t.yaml:3: underlay: duplicate field (first at line 1)"},
		{"section of wrong kind", doc("underlay: [192.0.2.1]", n1), "t.yaml:1: underlay: expected a mapping, got a list"},
		{"merge of a scalar", doc(u4, "networks:", "  - <<: 5", "    name: blue", "    vni: 1"), "t.yaml:3: networks[0]: merge key (<<) needs a mapping or a list of mappings, got integer 5"},
		{"merge loop", doc(u4, n1, "log: &l {<<: *l}"), "t.yaml:3: log: merge keys (<<) nested more than 8 deep"},

		// underlay
		{"underlay missing", doc(n1), "t.yaml:1: underlay: required"},
		{"local missing", doc("underlay: {port: 4789}", n1), "t.yaml:1: underlay.local: required"},
		{"local not an IP", doc("underlay: {local: vtep1}", n1), `t.yaml:1: underlay.local: invalid IP address "vtep1"`},
		{"local a list", doc("underlay: {local: [192.0.2.1]}", n1), "t.yaml:1: underlay.local: expected a string, got a list"},
		{"local unspecified", doc("underlay: {local: 0.0.0.0}", n1), "t.yaml:1: underlay.local: 0.0.0.0 is the unspecified address; want a unicast address"},
		{"local IPv6 unspecified", doc("underlay: {local: '::'}", n1), "t.yaml:1: underlay.local: :: is the unspecified address"},
		{"local multicast", doc("underlay: {local: 239.1.1.1}", n1), "t.yaml:1: underlay.local: 239.1.1.1 is a multicast address"},
		{"local broadcast", doc("underlay: {local: 255.255.255.255}", n1), "t.yaml:1: underlay.local: 255.255.255.255 is the broadcast address"},
		{"local with zone", doc("underlay: {local: 'fe80::1%eth0'}", n1), `t.yaml:1: underlay.local: "fe80::1%eth0" has an IPv6 zone`},
		{"local IPv4-mapped", doc("underlay: {local: '::ffff:192.0.2.1'}", n1), "t.yaml:1: underlay.local: ::ffff:192.0.2.1 is an IPv4-mapped IPv6 address; write it as 192.0.2.1"},
		{"port 0", doc("underlay: {local: 192.0.2.1, port: 0}", n1), "t.yaml:1: underlay.port: 0 out of range 1..65535"},
		{"port too big", doc("underlay: {local: 192.0.2.1, port: 65536}", n1), "t.yaml:1: underlay.port: 65536 out of range 1..65535"},
		{"port quoted", doc("underlay: {local: 192.0.2.1, port: '4789'}", n1), `t.yaml:1: underlay.port: expected an integer, got string "4789"`},
		{"port float", doc("underlay: {local: 192.0.2.1, port: 47.89}", n1), "t.yaml:1: underlay.port: expected an integer, got number 47.89"},
		{"mtu too small for IPv4", doc("underlay: {local: 192.0.2.1, mtu: 625}", n1), "t.yaml:1: underlay.mtu: 625 too small: an IPv4 underlay needs at least 626, so that ports keep 576 bytes (the IPv4 minimum) after 50 bytes of VXLAN overhead"},
		{"mtu too small for IPv6", doc("underlay: {local: '2001:db8::1', mtu: 1349}", n1), "t.yaml:1: underlay.mtu: 1349 too small: an IPv6 underlay needs at least 1350, so that ports keep 1280 bytes (the IPv6 minimum) after 70 bytes of VXLAN overhead"},
		{"mtu too large", doc("underlay: {local: 192.0.2.1, mtu: 65536}", n1), "t.yaml:1: underlay.mtu: 65536 too large: the maximum is 65535"},
		{"strict not a boolean", doc("underlay: {local: 192.0.2.1, strict: yes}", n1), `t.yaml:1: underlay.strict: expected true or false, got string "yes"`},
		{"src_port_min 0", doc("underlay: {local: 192.0.2.1, src_port_min: 0}", n1), "t.yaml:1: underlay.src_port_min: 0 out of range 1..65535"},
		{"src_port_max too big", doc("underlay: {local: 192.0.2.1, src_port_max: 70000}", n1), "t.yaml:1: underlay.src_port_max: 70000 out of range 1..65535"},
		{"src ports reversed", doc("underlay:", "  local: 192.0.2.1", "  src_port_max: 50000", "  src_port_min: 60000", n1), "t.yaml:4: underlay.src_port_min: 60000 greater than src_port_max 50000"},
		{"src_port_max below default min", doc("underlay: {local: 192.0.2.1, src_port_max: 40000}", n1), "t.yaml:1: underlay.src_port_max: 40000 less than src_port_min 49152 (the default)"},

		// networks
		{"networks missing", doc(u4), "t.yaml:1: networks: required: at least one network"},
		{"networks empty", doc(u4, "networks: []"), "t.yaml:2: networks: empty: at least one network required"},
		{"networks a mapping", doc(u4, "networks: {name: blue}"), "t.yaml:2: networks: expected a list, got a mapping"},
		{"network a string", doc(u4, "networks: [blue]"), `t.yaml:2: networks[0]: expected a mapping, got string "blue"`},
		{"name missing", doc(u4, "networks:", "  - vni: 1"), "t.yaml:3: networks[0].name: required"},
		{"name empty", doc(u4, "networks: [{name: '', vni: 1}]"), `t.yaml:2: networks[0].name: "" is not a valid name: use 1 to 32 letters, digits or "_.-"`},
		{"name with space", doc(u4, "networks: [{name: blue net, vni: 1}]"), `t.yaml:2: networks[0].name: "blue net" is not a valid name`},
		{"name too long", doc(u4, "networks: [{name: "+strings.Repeat("b", 33)+", vni: 1}]"), `is not a valid name: use 1 to 32`},
		{"name duplicate", doc(u4, "networks:", "  - {name: blue, vni: 1}", "  - {name: blue, vni: 2}"), `t.yaml:4: networks[1].name: "blue" already used by networks[0] (line 3)`},
		{"vni missing", doc(u4, "networks: [{name: blue}]"), "t.yaml:2: networks[0].vni: required"},
		{"vni too big", doc(u4, "networks:", "  - name: blue", "    vni: 16777216"), "t.yaml:4: networks[0].vni: 16777216 out of range 0..16777215"},
		{"vni negative", doc(u4, "networks: [{name: blue, vni: -1}]"), "t.yaml:2: networks[0].vni: -1 out of range 0..16777215"},
		{"vni beyond uint64", doc(u4, "networks: [{name: blue, vni: 99999999999999999999999}]"), "t.yaml:2: networks[0].vni: 99999999999999999999999 out of range 0..16777215"},
		{"vni beyond int64", doc(u4, "networks: [{name: blue, vni: 18446744073709551615}]"), "t.yaml:2: networks[0].vni: 18446744073709551615 out of range 0..16777215"},
		{"vni a word", doc(u4, "networks: [{name: blue, vni: blue}]"), `t.yaml:2: networks[0].vni: expected an integer, got string "blue"`},
		{"vni tagged int that is not", doc(u4, "networks: [{name: blue, vni: !!int x}]"), `t.yaml:2: networks[0].vni: expected an integer, got integer x`},
		{"vni duplicate", doc(u4, "networks:", "  - {name: blue, vni: 7}", "  - {name: green, vni: 7}"), "t.yaml:4: networks[1].vni: 7 already used by networks[0] (line 3)"},
		{"flood not a list", doc(u4, "networks: [{name: blue, vni: 1, flood: 192.0.2.2}]"), "t.yaml:2: networks[0].flood: expected a list, got string"},
		{"flood bad IP", doc(u4, "networks: [{name: blue, vni: 1, flood: [192.0.2]}]"), `t.yaml:2: networks[0].flood[0]: invalid IP address "192.0.2"`},
		{"flood multicast", doc(u4, "networks: [{name: blue, vni: 1, flood: [239.0.0.1]}]"), "t.yaml:2: networks[0].flood[0]: 239.0.0.1 is a multicast address; want a unicast address"},
		{"flood wrong family", doc(u4, "networks: [{name: blue, vni: 1, flood: ['2001:db8::2']}]"), "t.yaml:2: networks[0].flood[0]: 2001:db8::2 is IPv6 but underlay.local 192.0.2.1 is IPv4"},
		{"flood is local", doc(u4, "networks: [{name: blue, vni: 1, flood: [192.0.2.2, 192.0.2.1]}]"), "t.yaml:2: networks[0].flood[1]: 192.0.2.1 is underlay.local itself; list remote VTEPs only"},
		{"flood duplicate", doc(u4, "networks:", "  - name: blue", "    vni: 1", "    flood:", "      - 192.0.2.2", "      - 192.0.2.2"), "t.yaml:7: networks[0].flood[1]: 192.0.2.2 already listed as networks[0].flood[0] (line 6)"},
		{"ageing zero", doc(u4, "networks: [{name: blue, vni: 1, ageing: 0}]"), "t.yaml:2: networks[0].ageing: 0 shorter than the minimum 1s"},
		{"ageing sub-second", doc(u4, "networks: [{name: blue, vni: 1, ageing: 500ms}]"), "t.yaml:2: networks[0].ageing: 500ms shorter than the minimum 1s"},
		{"ageing negative", doc(u4, "networks: [{name: blue, vni: 1, ageing: -5m}]"), "t.yaml:2: networks[0].ageing: -5m shorter than the minimum 1s"},
		{"ageing unitless string", doc(u4, "networks: [{name: blue, vni: 1, ageing: '300'}]"), `t.yaml:2: networks[0].ageing: invalid duration "300": want a duration like 300s or 5m, or whole seconds`},
		{"ageing float", doc(u4, "networks: [{name: blue, vni: 1, ageing: 1.5}]"), "t.yaml:2: networks[0].ageing: expected a duration like 300s or 5m, or whole seconds, got number 1.5"},
		{"ageing overflows", doc(u4, "networks: [{name: blue, vni: 1, ageing: 9223372037}]"), "t.yaml:2: networks[0].ageing: 9223372037 out of range -9223372036..9223372036"},
		{"max_macs zero", doc(u4, "networks: [{name: blue, vni: 1, max_macs: 0}]"), "t.yaml:2: networks[0].max_macs: 0 out of range 1..1000000"},
		{"max_macs too big", doc(u4, "networks: [{name: blue, vni: 1, max_macs: 1000001}]"), "t.yaml:2: networks[0].max_macs: 1000001 out of range 1..1000000"},
		{"learning not a boolean", doc(u4, "networks: [{name: blue, vni: 1, learning: 1}]"), "t.yaml:2: networks[0].learning: expected true or false, got integer 1"},
		{"arp_proxy not a boolean", doc(u4, "networks: [{name: blue, vni: 1, arp_proxy: on}]"), `t.yaml:2: networks[0].arp_proxy: expected true or false, got string "on"`},
		{"allow_unknown_peers not a boolean", doc(u4, "networks: [{name: blue, vni: 1, allow_unknown_peers: []}]"), "t.yaml:2: networks[0].allow_unknown_peers: expected true or false, got a list"},
		{"fdb mac missing", doc(u4, "networks:", "  - name: blue", "    vni: 1", "    fdb:", "      - vtep: 192.0.2.2"), "t.yaml:6: networks[0].fdb[0].mac: required"},
		{"fdb vtep missing", doc(u4, "networks: [{name: blue, vni: 1, fdb: [{mac: '02:00:00:00:00:01'}]}]"), "t.yaml:2: networks[0].fdb[0].vtep: required"},
		{"fdb mac invalid", doc(u4, "networks: [{name: blue, vni: 1, fdb: [{mac: '02:00:00:00:01', vtep: 192.0.2.2}]}]"), `t.yaml:2: networks[0].fdb[0].mac: invalid MAC address "02:00:00:00:01"`},
		{"fdb mac EUI-64", doc(u4, "networks: [{name: blue, vni: 1, fdb: [{mac: '02:00:00:00:00:00:00:01', vtep: 192.0.2.2}]}]"), `t.yaml:2: networks[0].fdb[0].mac: "02:00:00:00:00:00:00:01" is not a 48-bit Ethernet MAC address`},
		{"fdb mac multicast", doc(u4, "networks: [{name: blue, vni: 1, fdb: [{mac: '01:00:5e:00:00:01', vtep: 192.0.2.2}]}]"), "t.yaml:2: networks[0].fdb[0].mac: 01:00:5e:00:00:01 is a multicast MAC address (lowest bit of the first octet set); want unicast"},
		{"fdb mac broadcast", doc(u4, "networks: [{name: blue, vni: 1, fdb: [{mac: 'ff:ff:ff:ff:ff:ff', vtep: 192.0.2.2}]}]"), "t.yaml:2: networks[0].fdb[0].mac: ff:ff:ff:ff:ff:ff is a multicast MAC address"},
		{"fdb mac zero", doc(u4, "networks: [{name: blue, vni: 1, fdb: [{mac: '00:00:00:00:00:00', vtep: 192.0.2.2}]}]"), "t.yaml:2: networks[0].fdb[0].mac: 00:00:00:00:00:00 is the all-zero MAC address; want unicast"},
		{"fdb vtep wrong family", doc(u4, "networks: [{name: blue, vni: 1, fdb: [{mac: '02:00:00:00:00:01', vtep: '2001:db8::2'}]}]"), "t.yaml:2: networks[0].fdb[0].vtep: 2001:db8::2 is IPv6 but underlay.local 192.0.2.1 is IPv4"},
		{"fdb vtep is local", doc(u4, "networks: [{name: blue, vni: 1, fdb: [{mac: '02:00:00:00:00:01', vtep: 192.0.2.1}]}]"), "t.yaml:2: networks[0].fdb[0].vtep: 192.0.2.1 is underlay.local itself"},
		{"fdb vtep multicast", doc(u4, "networks: [{name: blue, vni: 1, fdb: [{mac: '02:00:00:00:00:01', vtep: 224.0.0.1}]}]"), "t.yaml:2: networks[0].fdb[0].vtep: 224.0.0.1 is a multicast address"},
		{"fdb duplicate mac", doc(u4, "networks:", "  - name: blue", "    vni: 1", "    fdb:", "      - {mac: '02:00:00:00:00:01', vtep: 192.0.2.2}", "      - {mac: '02-00-00-00-00-01', vtep: 192.0.2.3}"), "t.yaml:7: networks[0].fdb[1].mac: 02:00:00:00:00:01 already listed at networks[0].fdb[0].mac (line 6)"},
		{"neighbor ip missing", doc(u4, "networks: [{name: blue, vni: 1, neighbors: [{mac: '02:00:00:00:00:01'}]}]"), "t.yaml:2: networks[0].neighbors[0].ip: required"},
		{"neighbor mac missing", doc(u4, "networks: [{name: blue, vni: 1, neighbors: [{ip: 10.0.0.1}]}]"), "t.yaml:2: networks[0].neighbors[0].mac: required"},
		{"neighbor ip multicast", doc(u4, "networks: [{name: blue, vni: 1, neighbors: [{ip: 'ff02::1', mac: '02:00:00:00:00:01'}]}]"), "t.yaml:2: networks[0].neighbors[0].ip: ff02::1 is a multicast address"},
		{"neighbor ip unspecified", doc(u4, "networks: [{name: blue, vni: 1, neighbors: [{ip: 0.0.0.0, mac: '02:00:00:00:00:01'}]}]"), "t.yaml:2: networks[0].neighbors[0].ip: 0.0.0.0 is the unspecified address"},
		{"neighbor mac multicast", doc(u4, "networks: [{name: blue, vni: 1, neighbors: [{ip: 10.0.0.1, mac: '33:33:00:00:00:01'}]}]"), "t.yaml:2: networks[0].neighbors[0].mac: 33:33:00:00:00:01 is a multicast MAC address"},
		{"neighbor duplicate ip", doc(u4, "networks:", "  - name: blue", "    vni: 1", "    neighbors:", "      - {ip: 10.0.0.1, mac: '02:00:00:00:00:01'}", "      - {ip: 10.0.0.1, mac: '02:00:00:00:00:02'}"), "t.yaml:7: networks[0].neighbors[1].ip: 10.0.0.1 already listed at networks[0].neighbors[0].ip (line 6)"},

		// ports
		{"ports a mapping", doc(u4, n1, "ports: {name: p}"), "t.yaml:3: ports: expected a list, got a mapping"},
		{"port name missing", doc(u4, n1, "ports: [{network: blue, pid: 1}]"), "t.yaml:3: ports[0].name: required"},
		{"port name empty", doc(u4, n1, "ports: [{name: '', network: blue, pid: 1, ifname: eth0}]"), "t.yaml:3: ports[0].name: must not be empty"},
		{"port name duplicate", doc(u4, n1, "ports:", "  - {name: p, network: blue, pid: 1}", "  - {name: p, network: blue, pid: 2}"), `t.yaml:5: ports[1].name: "p" already used by ports[0] (line 4)`},
		{"port network missing", doc(u4, n1, "ports: [{name: p, pid: 1}]"), "t.yaml:3: ports[0].network: required"},
		{"port network unknown", doc(u4, "networks: [{name: blue, vni: 1}, {name: green, vni: 2}]", "ports: [{name: p, network: red, pid: 1}]"), `t.yaml:3: ports[0].network: unknown network "red" (networks: "blue", "green")`},
		{"port network with none defined", doc(u4, "networks: []", "ports: [{name: p, network: red, pid: 1}]"), `t.yaml:3: ports[0].network: unknown network "red" (networks: none defined)`},
		{"netns and pid", doc(u4, n1, "ports:", "  - name: p", "    network: blue", "    netns: /run/netns/c1", "    pid: 1"), "t.yaml:7: ports[0]: both netns and pid set; give exactly one"},
		{"neither netns nor pid", doc(u4, n1, "ports:", "  - name: p", "    network: blue"), "t.yaml:4: ports[0]: missing netns or pid"},
		{"pid zero", doc(u4, n1, "ports: [{name: p, network: blue, pid: 0}]"), "t.yaml:3: ports[0].pid: 0 out of range 1..4194304"},
		{"pid negative", doc(u4, n1, "ports: [{name: p, network: blue, pid: -12}]"), "t.yaml:3: ports[0].pid: -12 out of range 1..4194304"},
		{"pid a path", doc(u4, n1, "ports: [{name: p, network: blue, pid: /proc/1}]"), `t.yaml:3: ports[0].pid: expected an integer, got string "/proc/1"`},
		{"netns relative", doc(u4, n1, "ports: [{name: p, network: blue, netns: c1}]"), `t.yaml:3: ports[0].netns: "c1" is not an absolute path`},
		{"ifname too long", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, ifname: eth0123456789012}]"), `t.yaml:3: ports[0].ifname: "eth0123456789012" is 16 bytes; Linux interface names have at most 15`},
		{"ifname slash", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, ifname: eth/1}]"), `t.yaml:3: ports[0].ifname: "eth/1" contains '/'; Linux interface names cannot contain '/', ':', whitespace or control characters`},
		{"ifname colon", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, ifname: 'eth0:1'}]"), `t.yaml:3: ports[0].ifname: "eth0:1" contains ':'`},
		{"ifname space", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, ifname: 'eth 1'}]"), `t.yaml:3: ports[0].ifname: "eth 1" contains ' '`},
		{"ifname dot", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, ifname: .}]"), `t.yaml:3: ports[0].ifname: "." is not a valid interface name`},
		{"ifname empty", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, ifname: ''}]"), `t.yaml:3: ports[0].ifname: interface name must not be empty`},
		{"default ifname too long", doc(u4, n1, "ports: [{name: container1-eth1x, network: blue, pid: 1}]"), `t.yaml:3: ports[0].name: unusable as the interface name (set ifname): "container1-eth1x" is 16 bytes`},
		{"ifname twice in a netns", doc(u4, n1, "ports:", "  - {name: a, network: blue, netns: /run/netns/c1, ifname: eth1}", "  - {name: b, network: blue, netns: /run/netns//c1/, ifname: eth1}"), `t.yaml:5: ports[1].ifname: interface "eth1" in /run/netns//c1/ already used by ports[0] (line 4)`},
		{"ifname twice by pid", doc(u4, n1, "ports:", "  - {name: a, network: blue, pid: 42, ifname: eth1}", "  - {name: b, network: blue, netns: /proc/42/ns/net, ifname: eth1}"), `t.yaml:5: ports[1].ifname: interface "eth1" in /proc/42/ns/net already used by ports[0] (line 4)`},
		{"default ifname twice", doc(u4, n1, "ports:", "  - {name: eth1, network: blue, pid: 42}", "  - {name: a, network: blue, pid: 42, ifname: eth1}"), `t.yaml:5: ports[1].ifname: interface "eth1" in /proc/42/ns/net already used by ports[0] (line 4)`},
		{"port mac multicast", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, mac: '03:00:00:00:00:01'}]"), "t.yaml:3: ports[0].mac: 03:00:00:00:00:01 is a multicast MAC address"},
		{"port mac twice in a network", doc(u4, n1, "ports:", "  - {name: a, network: blue, pid: 1, mac: '02:00:00:00:00:01'}", "  - {name: b, network: blue, pid: 2, mac: '02:00:00:00:00:01'}"), `t.yaml:5: ports[1].mac: 02:00:00:00:00:01 already used in network "blue" by ports[0] (line 4)`},
		{"port mtu too small", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, mtu: 67}]"), "t.yaml:3: ports[0].mtu: 67 out of range 68..65535"},
		{"port mtu above IPv4 underlay", doc(u4, n1, "ports:", "  - name: p", "    network: blue", "    pid: 1", "    mtu: 1451"), "t.yaml:7: ports[0].mtu: 1451 too large: at most 1450 fits in underlay.mtu 1500 after 50 bytes of VXLAN over IPv4 overhead (outer IP, UDP 8, VXLAN 8, inner Ethernet 14)"},
		{"port mtu above IPv6 underlay", doc("underlay: {local: '2001:db8::1'}", n1, "ports: [{name: p, network: blue, pid: 1, mtu: 1431}]"), "t.yaml:3: ports[0].mtu: 1431 too large: at most 1430 fits in underlay.mtu 1500 after 70 bytes of VXLAN over IPv6 overhead"},
		{"address without length", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, addresses: [10.0.1.2]}]"), `t.yaml:3: ports[0].addresses[0]: invalid address "10.0.1.2": want address/length like 10.0.1.2/24`},
		{"address multicast", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, addresses: [224.0.0.5/4]}]"), "t.yaml:3: ports[0].addresses[0]: 224.0.0.5 is a multicast address"},
		{"address IPv4-mapped", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, addresses: ['::ffff:10.0.0.1/120']}]"), "t.yaml:3: ports[0].addresses[0]: ::ffff:10.0.0.1 is an IPv4-mapped IPv6 address; write it in IPv4 form"},
		{"address duplicate", doc(u4, n1, "ports:", "  - name: p", "    network: blue", "    pid: 1", "    addresses:", "      - 10.0.1.2/24", "      - 10.0.1.2/16"), "t.yaml:9: ports[0].addresses[1]: 10.0.1.2 already listed as ports[0].addresses[0] (line 8)"},
		{"IPv6 address on a small MTU", doc(u4, n1, "ports: [{name: p, network: blue, pid: 1, mtu: 1200, addresses: ['2001:db8::2/64']}]"), "t.yaml:3: ports[0].addresses[0]: 2001:db8::2/64 needs a port MTU of at least 1280 (the IPv6 minimum), but the port MTU is 1200"},
		{"IPv6 address on a small default MTU", doc("underlay: {local: 192.0.2.1, mtu: 1000}", n1, "ports: [{name: p, network: blue, pid: 1, addresses: ['2001:db8::2/64']}]"), "t.yaml:3: ports[0].addresses[0]: 2001:db8::2/64 needs a port MTU of at least 1280 (the IPv6 minimum), but the port MTU is 950"},

		// log
		{"log level", doc(u4, n1, "log: {level: verbose}"), `t.yaml:3: log.level: "verbose" is not one of debug, info, warn or error`},
		{"log format", doc(u4, n1, "log:", "  format: xml"), `t.yaml:4: log.format: "xml" is not one of console or json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error containing %q", cfg, tt.wantErr)
			}
			if cfg != nil {
				t.Errorf("Parse returned a Config with its error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error:\n%v\nwant it to contain:\n%s", err, tt.wantErr)
			}
			checkLines(t, err)
		})
	}
}

// checkLines requires every error in err to be an *Error on line 1 or later.
func checkLines(t *testing.T, err error) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Errorf("error %q (%T) is not an *Error", e, e)
			continue
		}
		if ce.Line < 1 {
			t.Errorf("error %q has line %d", e, ce.Line)
		}
	}
}

func TestParseErrorsInFileOrder(t *testing.T) {
	in := doc(
		"ports:",
		"  - {name: p, network: red, pid: 1, mtu: 1451}",
		"networks:",
		"  - {name: blue, vni: 16777216, ageing: 0}",
		"underlay: {local: 192.0.2.1, colour: blue}",
	)
	want := strings.Join([]string{
		`t.yaml:2: ports[0].network: unknown network "red" (networks: "blue")`,
		"t.yaml:2: ports[0].mtu: 1451 too large: at most 1450 fits in underlay.mtu 1500 after 50 bytes of VXLAN over IPv4 overhead (outer IP, UDP 8, VXLAN 8, inner Ethernet 14)",
		"t.yaml:4: networks[0].vni: 16777216 out of range 0..16777215",
		"t.yaml:4: networks[0].ageing: 0 shorter than the minimum 1s",
		"t.yaml:5: underlay.colour: unknown field (known fields: local, port, mtu, strict, src_port_min, src_port_max)",
	}, "\n")
	_, err := Parse("t.yaml", []byte(in))
	if err == nil || err.Error() != want {
		t.Fatalf("Parse error:\n%v\nwant:\n%s", err, want)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("errors.As(%T, *Error) = false", err)
	}
	wantFirst := Error{File: "t.yaml", Line: 2, Field: "ports[0].network", Msg: `unknown network "red" (networks: "blue")`}
	if *ce != wantFirst {
		t.Errorf("first error = %+v, want %+v", *ce, wantFirst)
	}
}

func TestParseSingleErrorIsError(t *testing.T) {
	_, err := Parse("vxswitch.yaml", []byte(doc(u4, "networks:", "  - name: blue", "    vni: 16777216")))
	ce, ok := err.(*Error)
	if !ok {
		t.Fatalf("Parse error is %T, want *Error", err)
	}
	want := Error{File: "vxswitch.yaml", Line: 4, Field: "networks[0].vni", Msg: "16777216 out of range 0..16777215"}
	if *ce != want {
		t.Errorf("Parse error = %+v, want %+v", *ce, want)
	}
	if got, want := ce.Error(), "vxswitch.yaml:4: networks[0].vni: 16777216 out of range 0..16777215"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseAliasBomb(t *testing.T) {
	// 2000 networks that each alias a 2000-entry flood list would be
	// 4,000,000 entries to check from a ~20 kB file.
	var b strings.Builder
	b.WriteString("underlay: {local: 10.0.0.1}\nnetworks:\n  - &n {name: a, vni: 1, flood: [")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("10.1.0.1")
	}
	b.WriteString("]}\n")
	for range 2000 {
		b.WriteString("  - *n\n")
	}
	start := time.Now()
	_, err := Parse("t.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand the document beyond") {
		t.Fatalf("Parse error = %.300v, want the alias limit", err)
	}
	checkLines(t, err)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Parse took %v", d)
	}
}

// TestTestdata checks the invalid example files and that the valid one loads.
func TestTestdata(t *testing.T) {
	want := map[string]string{
		"vxswitch.yaml":       "",
		"invalid-syntax.yaml": "testdata/invalid-syntax.yaml:6: invalid YAML: mapping values are not allowed in this context",
		"invalid-fields.yaml": strings.Join([]string{
			"testdata/invalid-fields.yaml:4: underlay.mtu: 1300 too small: an IPv6 underlay needs at least 1350, so that ports keep 1280 bytes (the IPv6 minimum) after 70 bytes of VXLAN overhead",
			"testdata/invalid-fields.yaml:9: networks[0].flood[0]: 192.0.2.2 is IPv4 but underlay.local 2001:db8::1 is IPv6",
			"testdata/invalid-fields.yaml:11: networks[1].vni: 4097 already used by networks[0] (line 8)",
			"testdata/invalid-fields.yaml:12: networks[1].leaning: unknown field (known fields: name, vni, flood, allow_unknown_peers, learning, arp_proxy, ageing, max_macs, fdb, neighbors)",
			`testdata/invalid-fields.yaml:15: ports[0].network: unknown network "red" (networks: "blue", "green")`,
			"testdata/invalid-fields.yaml:17: ports[0]: both netns and pid set; give exactly one",
			`testdata/invalid-fields.yaml:18: ports[0].ifname: "a-very-long-ifname" is 18 bytes; Linux interface names have at most 15`,
		}, "\n"),
		"invalid-empty.yaml": "testdata/invalid-empty.yaml:1: empty configuration: want at least underlay and networks",
	}
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := want[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expectation in TestTestdata", f)
		}
	}
	for name, wantErr := range want {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			if _, err := os.Stat(path); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			switch {
			case wantErr == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case wantErr != "" && (err == nil || err.Error() != wantErr):
				t.Fatalf("Load error:\n%v\nwant:\n%s", err, wantErr)
			}
		})
	}
}
