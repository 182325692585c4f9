package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is one problem in a configuration file. Parse returns a single
// *Error, or several joined with errors.Join in file order; errors.As finds
// the first either way.
type Error struct {
	File  string // name given to Parse
	Line  int    // 1-based line of the offending key or value
	Field string // path such as networks[0].vni; empty for YAML syntax errors
	Msg   string
}

// Error formats e as "file:line: field: msg".
func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// joinErrors sorts errs by line, drops repeats (a merged or aliased mapping is
// checked once per use) and returns nil, the one *Error, or all of them joined.
func joinErrors(errs []*Error) error {
	slices.SortStableFunc(errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	seen := make(map[Error]bool, len(errs))
	var out []error
	for _, e := range errs {
		if !seen[*e] {
			seen[*e] = true
			out = append(out, e)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return errors.Join(out...)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yaml.v3 reports parser errors (as opposed to scanner errors) with a 0-based
// line; these are all of the parser's messages.
var parserMessages = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
}

// syntaxError turns an error from the YAML decoder into an *Error with the
// best line we can find for it.
func syntaxError(file string, err error, data []byte) *Error {
	e := &Error{File: file, Line: 1}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
		if parserMessages[e.Msg] {
			e.Line++
		}
	} else {
		e.Msg = strings.TrimPrefix(msg, "yaml: ")
		// yaml.v3 omits the line when its 0-based line is 0, and for errors
		// from its reader and composer.
		e.Line = lineWithoutMark(e.Msg, data)
	}
	e.Line = max(e.Line, 1)
	e.Msg = "invalid YAML: " + e.Msg
	return e
}

var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// lineWithoutMark finds the line of a YAML error that came without one.
func lineWithoutMark(msg string, data []byte) int {
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			return lineAt(data, i)
		}
		return 1
	}
	// Reader errors (bad UTF-8, control characters) concern the first byte
	// that is not printable YAML (YAML 1.2 §5.1); other errors here belong
	// to the first line.
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 || !yamlPrintable(r) {
			if looksLikeReaderError(msg) {
				return lineAt(data, i)
			}
			break
		}
		i += n
	}
	return 1
}

func looksLikeReaderError(msg string) bool {
	return strings.Contains(msg, "UTF-8") || strings.Contains(msg, "UTF-16") ||
		strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode") ||
		strings.Contains(msg, "surrogate")
}

func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7e:
		return true
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}

// lineAt is the 1-based line of data[offset], counting line breaks as YAML
// does: LF, CR, CRLF, NEL, LS and PS.
func lineAt(data []byte, offset int) int {
	line := 1
	for i := 0; i < offset && i < len(data); i++ {
		switch {
		case data[i] == '\n':
			line++
		case data[i] == '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				line++
			}
		case data[i] == 0xc2 && i+1 < len(data) && data[i+1] == 0x85, // NEL
			data[i] == 0xe2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9): // LS, PS
			line++
		}
	}
	return line
}
