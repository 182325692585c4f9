// Package admin is vxswitch's debugging interface: an HTTP/JSON API on a
// unix socket, served by the running switch, for its tables and counters,
// live pcapng captures and traces, and dry-run explanations; the client the
// vxswitch commands use; and a Prometheus collector.
//
// Endpoints (all under /v1; errors are {"error": "..."} with a 4xx or 5xx
// status):
//
//	GET  /v1/fdb[?network=N]        []FDBEntry
//	GET  /v1/neigh[?network=N]      []NeighEntry
//	GET  /v1/ports                  []PortEntry
//	GET  /v1/peers                  []PeerEntry
//	GET  /v1/stats                  Stats
//	POST /v1/explain                ExplainRequest → Explanation
//	GET  /v1/capture?port=P|network=N|underlay=true[&count=C]
//	                                pcapng stream (application/x-pcapng)
//	GET  /v1/trace[?network=N][&port=P][&count=C]
//	                                TraceEvent stream (JSON Lines)
//	POST /v1/sessions/{id}/stop     ends a capture or trace cleanly
//
// A capture or trace answers with the header Vxswitch-Session (the id to
// stop it with) and ends with the trailers Vxswitch-Packets and
// Vxswitch-Drops. Only root and the daemon's own user may connect: the
// socket is mode 0600 and each connection's SO_PEERCRED is checked.
package admin
