package config

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"testing"
	"unicode/utf16"
)

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files in testdata: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		doc(u4, n1),
		doc("underlay: {local: '2001:db8::1', mtu: 1350}", n1, "ports: [{name: p, network: blue, pid: 1, addresses: ['2001:db8::2/64']}]"),
		doc(u4, "networks: [&n {name: a, vni: 1, flood: &f [192.0.2.2]}, {<<: *n, name: b, vni: 2, flood: *f}]"),
		doc(u4, n1, "log: &l {<<: *l}"),
		"a: \xff\r\n\x01\u2028b: *c\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Errorf("Parse returned a Config with its error")
			}
			checkFuzzError(t, err, data)
			return
		}
		checkConfig(t, cfg)
	})
}

// checkFuzzError requires every error to be an *Error for this file with a
// line inside it (or just past its end, where YAML finds a missing token).
func checkFuzzError(t *testing.T, err error, data []byte) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	text := yamlText(data)
	last := lineAt(text, len(text)) + 1
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %q (%T) is not an *Error", e, e)
		}
		if ce.File != "f.yaml" || ce.Line < 1 || ce.Line > last || ce.Msg == "" {
			t.Fatalf("error %+v: want file f.yaml, line in 1..%d and a message", *ce, last)
		}
	}
}

// yamlText is data as YAML reads it: after a UTF-16 byte-order mark,
// UTF-16 (decoded leniently here: an odd last byte is dropped and unpaired
// surrogates become U+FFFD, each still one character on its line), else the
// bytes as they are.
func yamlText(data []byte) []byte {
	order := utf16Order(data)
	if order == nil {
		return data
	}
	units := make([]uint16, 0, len(data)/2)
	for i := 2; i+1 < len(data); i += 2 {
		units = append(units, order.Uint16(data[i:]))
	}
	return []byte(string(utf16.Decode(units)))
}

// checkConfig checks invariants that every accepted Config must keep.
func checkConfig(t *testing.T, cfg *Config) {
	t.Helper()
	u := cfg.Underlay
	if !u.Local.IsValid() || u.Port == 0 || u.SrcPortMin == 0 || u.SrcPortMin > u.SrcPortMax {
		t.Fatalf("bad underlay %+v", u)
	}
	if len(cfg.Networks) == 0 {
		t.Fatalf("no networks")
	}
	for _, n := range cfg.Networks {
		if !validNetworkName(n.Name) || n.VNI > maxVNI || n.Ageing < minAgeing || n.MaxMACs < 1 || n.Line < 1 {
			t.Fatalf("bad network %+v", n)
		}
		for _, a := range n.Flood {
			if a == u.Local || a.Is4() != u.Local.Is4() {
				t.Fatalf("network %q floods to %s with underlay.local %s", n.Name, a, u.Local)
			}
		}
	}
	for _, p := range cfg.Ports {
		if _, ok := cfg.NetworkByName(p.Network); !ok {
			t.Fatalf("port %q on unknown network %q", p.Name, p.Network)
		}
		if ns := p.NetnsPath(); !path.IsAbs(ns) || (p.PID != 0) == (p.Netns != "") {
			t.Fatalf("port %q: netns %q, pid %d", p.Name, p.Netns, p.PID)
		}
		if badIfName(p.IfName) != "" || p.MTU < minPortMTU || p.MTU > u.MTU-u.Overhead() || p.Line < 1 {
			t.Fatalf("bad port %+v with underlay MTU %d", p, u.MTU)
		}
	}
	if cfg.Log.Level == "" || cfg.Log.Format == "" {
		t.Fatalf("log %+v not defaulted", cfg.Log)
	}
	if err := CheckSocketPath(cfg.Admin.Socket); err != nil {
		t.Fatalf("admin socket %q: %v", cfg.Admin.Socket, err)
	}
	if l := cfg.Metrics.Listen; l != "" && CheckListen(l) != nil {
		t.Fatalf("metrics listen %q: %v", l, CheckListen(l))
	}
}
