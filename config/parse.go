package config

import (
	"bytes"
	"errors"
	"io"
	"net/netip"

	"gopkg.in/yaml.v3"
)

// Parse decodes and validates one configuration; name is the file name used
// in error messages. The text is UTF-8, or UTF-16 after a byte-order mark.
// It reports every problem it finds: the error is an *Error, or several
// *Error joined with errors.Join in file order.
func Parse(name string, data []byte) (*Config, error) {
	data, err := utf8Text(name, data)
	if err != nil {
		return nil, err
	}
	p := &parser{file: name}
	root, err := p.document(data)
	if err != nil {
		return nil, err
	}
	p.budget = budgetFor(root)
	p.limit = p.budget
	cfg := p.config(root)
	if err := joinErrors(p.errs); err != nil {
		return nil, err
	}
	return cfg, nil
}

// document returns the root node of the single YAML document in data.
func (p *parser) document(data []byte) (*yaml.Node, error) {
	empty := &Error{File: p.file, Line: 1, Msg: "empty configuration: want at least underlay and networks"}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, empty
	case err != nil:
		return nil, syntaxError(p.file, err, data)
	}
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxError(p.file, err, data)
		}
		if !isEmpty(&extra) {
			return nil, &Error{File: p.file, Line: max(extra.Line, 1), Msg: "second YAML document; the file must hold exactly one"}
		}
	}
	if isEmpty(&doc) {
		return nil, empty
	}
	return resolve(doc.Content[0]), nil
}

func isEmpty(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// parser state that later sections check against earlier ones. The sections
// are decoded in dependency order whatever their order in the file; errors
// are sorted by line at the end.
type state struct {
	underlay Underlay
	localOK  bool // underlay.Local is valid
	mtuOK    bool // underlay.MTU is valid
	networks map[string]*netState
	ports    map[string]ref    // by name
	ifnames  map[[2]string]ref // by netns path and ifname
}

type netState struct {
	macs map[[6]byte]ref // port MACs
}

// ref locates an earlier item for "already used by" messages.
type ref struct {
	path string
	line int
}

func (p *parser) config(root *yaml.Node) *Config {
	var cfg Config
	o, ok := p.object(root, "", "underlay", "networks", "ports", "log", "admin", "metrics")
	if !ok {
		return &cfg
	}
	cfg.Underlay = p.underlaySection(o)
	cfg.Log = p.logSection(o)
	cfg.Networks = p.networkSection(o)
	cfg.Ports = p.portSection(o)
	cfg.Admin = p.adminSection(o)
	cfg.Metrics = p.metricsSection(o)
	return &cfg
}

func (p *parser) logSection(root object) Log {
	l := Log{Level: DefaultLogLevel, Format: DefaultLogFormat}
	path, n := root.field("log")
	if n == nil {
		return l
	}
	o, ok := p.object(n, path, "level", "format")
	if !ok {
		return l
	}
	if f, n := o.field("level"); n != nil {
		l.Level, _ = p.oneOf(n, f, "debug", "info", "warn", "error")
	}
	if f, n := o.field("format"); n != nil {
		l.Format, _ = p.oneOf(n, f, "console", "json")
	}
	return l
}

func (p *parser) oneOf(n *yaml.Node, path string, choices ...string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	p.errorf(n.Line, path, "%s is not one of %s", quote(s), joinWords(choices))
	return "", false
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}
