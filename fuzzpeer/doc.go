// Package fuzzpeer fuzzes another VXLAN tunnel endpoint (RFC 7348) over the
// network: it sends datagrams mutated from valid frames, class by class,
// reproducibly from a seed and at a bounded rate, and between batches
// checks with a probe that the peer still forwards valid traffic to a
// responder behind it and back to the fuzzer, which listens as a VTEP the
// peer knows. It only ever sends to one literal unicast address.
package fuzzpeer
