package fdb

import "strconv"

// Type says how an entry got into a table.
type Type uint8

// Entry types. Static entries never age, are never replaced by learning and
// do not count toward a table's size limit.
const (
	Learned Type = iota
	Static
)

// String returns "learned" or "static".
func (t Type) String() string {
	switch t {
	case Learned:
		return "learned"
	case Static:
		return "static"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Result is what a Learn call did. The data path counts results rather than
// logging them.
type Result uint8

// Learn results.
const (
	// Refreshed: the key was known with the same value; its timestamp was updated.
	Refreshed Result = iota
	// LearnedNew: a new entry was made, or an aged one not yet expired was revived.
	LearnedNew
	// Moved: the value changed; lookups see the new one at once.
	Moved
	// StaticKept: a static entry owns the key; nothing changed.
	StaticKept
	// Full: the table is at its limit of learned entries; nothing was learned.
	Full
	// Invalid: the key or value may not be learned (group or zero MAC, bad IP, no destination).
	Invalid
)

var resultNames = [...]string{
	Refreshed:  "refreshed",
	LearnedNew: "new",
	Moved:      "moved",
	StaticKept: "static-kept",
	Full:       "full",
	Invalid:    "invalid",
}

// String returns a short lower-case name, suitable as a counter label.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}
