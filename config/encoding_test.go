package config

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
)

// utf16File is s as a UTF-16 file with a byte-order mark.
func utf16File(s string, order binary.AppendByteOrder) []byte {
	b := order.AppendUint16(nil, 0xfeff)
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return b
}

var byteOrders = map[string]binary.AppendByteOrder{"LE": binary.LittleEndian, "BE": binary.BigEndian}

// TestParseUTF16 checks that a UTF-16 file gives what the same text in UTF-8
// gives: the same Config, or the same errors on the same lines. The unknown
// anchor's line is found by searching the text, which finds nothing in
// UTF-16 bytes; the line separators (U+2028) are line breaks to YAML.
func TestParseUTF16(t *testing.T) {
	valid := doc(u4, n1, "ports: [{name: p, network: blue, pid: 1}]", "# a comment with ☃ and 𝄞")
	for _, text := range []string{
		valid,
		doc(u4, n1, "ports: *nope"),
		doc(u4, "networks:", "  - name: blue", "    vni: 16777216"),
		doc(u4, n1, "log: {level: \x01}"),
		"\u2028\u2028〰",
		u4 + "\u2028" + n1 + "\u2028prots: []",
	} {
		want, wantErr := Parse("t.yaml", []byte(text))
		for name, order := range byteOrders {
			got, err := Parse("t.yaml", utf16File(text, order))
			if !reflect.DeepEqual(got, want) || errString(err) != errString(wantErr) {
				t.Errorf("%s %q:\n got %+v, %v\nwant %+v, %v", name, text, got, err, want, wantErr)
			}
		}
		if text == valid && wantErr != nil {
			t.Fatalf("valid example: %v", wantErr)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseUTF16Invalid(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"odd length", append(utf16File(doc(u4, n1), le), 'x'),
			"t.yaml:3: invalid UTF-16 (little-endian byte-order mark) at byte 126: the file ends in half a character (an odd number of bytes)"},
		{"lone low surrogate", append(utf16File(u4+"\n", be), 0xdc, 0x00, 0, 'a'),
			"t.yaml:2: invalid UTF-16 (big-endian byte-order mark) at byte 60: low surrogate 0xdc00 without a high surrogate before it"},
		{"high surrogate, then a letter", append(utf16File("a: ", le), 0x00, 0xd8, 'b', 0),
			"t.yaml:1: invalid UTF-16 (little-endian byte-order mark) at byte 8: high surrogate 0xd800 not followed by a low surrogate"},
		{"high surrogate at the end", append(utf16File("a:\n\n", be), 0xd8, 0x3d),
			"t.yaml:3: invalid UTF-16 (big-endian byte-order mark) at byte 10: high surrogate 0xd83d at the end of the file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.yaml", tt.in)
			if cfg != nil || err == nil || err.Error() != tt.want {
				t.Fatalf("Parse = %v, %v\nwant error %s", cfg, err, tt.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error is %T, want *Error", err)
			}
		})
	}
}

// TestUTF8Unchanged: anything without a UTF-16 byte-order mark, a UTF-8 one
// included, reaches the YAML decoder as it is.
func TestUTF8Unchanged(t *testing.T) {
	for _, in := range []string{"", "a", "\xef\xbb\xbfa: 1", "\xfe", "\xff", "\xfe\xfd", "\xff\xff"} {
		got, err := utf8Text("t.yaml", []byte(in))
		if err != nil || string(got) != in {
			t.Errorf("utf8Text(%q) = %q, %v; want it unchanged", in, got, err)
		}
	}
	if got, err := utf8Text("t.yaml", []byte("\xff\xfe")); err != nil || len(got) != 0 {
		t.Errorf("a bare little-endian byte-order mark = %q, %v; want empty text", got, err)
	}
	if !strings.HasPrefix(string(utf16File("a", binary.BigEndian)), "\xfe\xff") {
		t.Fatal("utf16File writes no byte-order mark")
	}
}
