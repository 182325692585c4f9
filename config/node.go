package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parser walks a yaml.Node tree against the schema, collecting every error
// with its line instead of stopping at the first.
type parser struct {
	file string
	errs []*Error
	// Mapping entries and list items left to visit. Aliases can make a small
	// document expand enormously; the walk stops when this runs out.
	budget, limit int
	broke         bool
	state
}

func (p *parser) errorf(line int, field, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: max(line, 1), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// spend takes cost from the budget, reporting once when it runs out.
func (p *parser) spend(n *yaml.Node, cost int) bool {
	if p.broke {
		return false
	}
	p.budget -= cost
	if p.budget < 0 {
		p.broke = true
		p.errorf(n.Line, "", "aliases expand the document beyond %d entries; write it out or use fewer aliases", p.limit)
		return false
	}
	return true
}

const (
	minBudget     = 10000
	budgetFactor  = 4 // visits allowed per node actually written
	maxMergeDepth = 8
)

// budgetFor allows budgetFactor visits per node in the tree, so that work
// stays linear in the document's size; without aliases the walk visits each
// node once.
func budgetFor(root *yaml.Node) int {
	nodes := 0
	stack := []*yaml.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nodes++
		stack = append(stack, n.Content...)
	}
	return max(budgetFactor*nodes, minBudget)
}

// resolve follows an alias to its anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

type entry struct {
	name     string
	key, val *yaml.Node // val is resolved
}

// fields lists the entries of mapping m with merge keys (<<) expanded:
// explicit keys win over merged ones, and earlier merge sources over later
// ones (https://yaml.org/type/merge.html).
func (p *parser) fields(m *yaml.Node, path string, depth int) []entry {
	if !p.spend(m, len(m.Content)/2) {
		return nil
	}
	var own, merged []entry
	first := make(map[string]int)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, p.merge(v, path, depth)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, path, "expected a field name, got %s", describe(k))
			continue
		}
		if line, dup := first[k.Value]; dup {
			p.errorf(k.Line, join(path, k.Value), "duplicate field (first at line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		own = append(own, entry{k.Value, k, v})
	}
	for _, e := range merged {
		if _, ok := first[e.name]; !ok {
			first[e.name] = e.key.Line
			own = append(own, e)
		}
	}
	return own
}

func (p *parser) merge(v *yaml.Node, path string, depth int) []entry {
	if depth >= maxMergeDepth {
		p.errorf(v.Line, path, "merge keys (<<) nested more than %d deep", maxMergeDepth)
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return p.fields(v, path, depth+1)
	case yaml.SequenceNode:
		if !p.spend(v, len(v.Content)) {
			return nil
		}
		var out []entry
		for _, s := range v.Content {
			if s = resolve(s); s.Kind != yaml.MappingNode {
				p.errorf(s.Line, path, "merge key (<<) needs mappings, got %s", describe(s))
				continue
			}
			out = append(out, p.fields(s, path, depth+1)...)
		}
		return out
	}
	p.errorf(v.Line, path, "merge key (<<) needs a mapping or a list of mappings, got %s", describe(v))
	return nil
}

// object is a mapping checked against a list of known fields.
type object struct {
	path string
	line int
	vals map[string]*yaml.Node // resolved; fields set to null are left out
}

// object reports n unless it is a mapping whose fields are all in known.
func (p *parser) object(n *yaml.Node, path string, known ...string) (object, bool) {
	n = resolve(n)
	o := object{path: path, line: n.Line, vals: make(map[string]*yaml.Node)}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, path, "expected a mapping, got %s", describe(n))
		return o, false
	}
	for _, e := range p.fields(n, path, 0) {
		if !slices.Contains(known, e.name) {
			p.errorf(e.key.Line, join(path, e.name), "unknown field (known fields: %s)", strings.Join(known, ", "))
			continue
		}
		if e.val.Kind == yaml.ScalarNode && e.val.ShortTag() == "!!null" {
			continue
		}
		o.vals[e.name] = e.val
	}
	return o, true
}

// field returns the path and value of field name, or nil when it is absent.
func (o object) field(name string) (string, *yaml.Node) {
	return join(o.path, name), o.vals[name]
}

// list returns the resolved items of sequence n.
func (p *parser) list(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, path, "expected a list, got %s", describe(n))
		return nil
	}
	if !p.spend(n, len(n.Content)) {
		return nil
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = resolve(c)
	}
	return items
}

// join appends a field name to a path, quoting names that are not plain.
func join(path, name string) string {
	plain := name != ""
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(name) + "]"
	case path == "":
		return name
	}
	return path + "." + name
}

// joinWords lists words as "a, b or c".
func joinWords(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// describe names a node's kind and value for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return "string " + quote(n.Value)
		case "!!int":
			return "integer " + short(n.Value)
		case "!!float":
			return "number " + short(n.Value)
		case "!!bool":
			return "boolean " + short(n.Value)
		}
		return short(n.ShortTag()) + " " + quote(n.Value)
	}
	return "nothing"
}

// quote quotes s for a message, cutting it short.
func quote(s string) string {
	return strconv.Quote(short(s))
}

func short(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
