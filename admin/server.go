package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vxswitch/vxswitch/config"
	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// HTTP headers of capture and trace streams.
const (
	HeaderSession  = "Vxswitch-Session"
	TrailerPackets = "Vxswitch-Packets"
	TrailerDrops   = "Vxswitch-Drops"
)

// maxBody bounds request bodies (explain): a frame is at most 64 KiB,
// twice that in hex.
const maxBody = 1 << 20

// Options configure a Server.
type Options struct {
	Logger *zap.Logger
	// PeerNetworks names, per remote VTEP, the networks whose flood list or
	// static entries list it; see PeerNetworksOf. Networks with MACs
	// learned behind a VTEP are added when asked.
	PeerNetworks map[netip.Addr][]string
}

// PeerNetworksOf lists, per remote VTEP, the networks of cfg whose flood
// list or static MAC entries name it.
func PeerNetworksOf(cfg *config.Config) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for _, n := range cfg.Networks {
		add := func(a netip.Addr) {
			a = a.Unmap()
			if !slices.Contains(out[a], n.Name) {
				out[a] = append(out[a], n.Name)
			}
		}
		for _, a := range n.Flood {
			add(a)
		}
		for _, m := range n.FDB {
			add(m.VTEP)
		}
	}
	return out
}

// Server serves the admin API of one running switch.
type Server struct {
	sw     *vswitch.Switch
	log    *zap.Logger
	opts   Options
	uid    uint32 // the daemon's own uid, allowed besides root
	srv    *http.Server
	vnis   map[string]uint32 // networks never change after vswitch.New
	nets   []string          // in configuration order
	drops  atomic.Uint64     // capture_drops
	closed chan struct{}     // closed by Shutdown: sessions end
	once   sync.Once

	mu       sync.Mutex
	sessions map[uint64]*session // guarded by mu
	nextID   uint64              // guarded by mu
}

// NewServer returns a Server for sw; Serve starts it.
func NewServer(sw *vswitch.Switch, o Options) *Server {
	s := &Server{
		sw: sw, log: o.Logger, opts: o, uid: uint32(os.Getuid()),
		vnis: map[string]uint32{}, closed: make(chan struct{}), sessions: map[uint64]*session{},
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	nets, _ := sw.Stats()
	for _, n := range nets {
		s.vnis[n.Name] = n.VNI
		s.nets = append(s.nets, n.Name)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/fdb", s.handleFDB)
	mux.HandleFunc("GET /v1/neigh", s.handleNeigh)
	mux.HandleFunc("GET /v1/ports", s.handlePorts)
	mux.HandleFunc("GET /v1/peers", s.handlePeers)
	mux.HandleFunc("GET /v1/stats", s.handleStats)
	mux.HandleFunc("POST /v1/explain", s.handleExplain)
	mux.HandleFunc("GET /v1/capture", s.handleCapture)
	mux.HandleFunc("GET /v1/trace", s.handleTrace)
	mux.HandleFunc("POST /v1/sessions/{id}/stop", s.handleStop)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no endpoint %s %s", r.Method, r.URL.Path))
	})
	s.srv = &http.Server{
		Handler:           s.authorize(mux),
		ConnContext:       connContext,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	return s
}

// Serve answers requests on ln (from Listen) until Shutdown; it then
// returns http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(ln)
}

// Shutdown ends every capture and trace (they send their final counts),
// stops accepting connections and removes the socket file, and waits for
// requests in progress until ctx ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() { close(s.closed) })
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

// CaptureDrops counts events that captures and traces could not keep up
// with.
func (s *Server) CaptureDrops() uint64 { return s.drops.Load() }

// authorize lets only root and the daemon's own user through.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred := peerFrom(r.Context())
		if cred == nil {
			writeError(w, http.StatusForbidden, errors.New("peer credentials unknown; refused"))
			return
		}
		if !allowedUID(cred.Uid, s.uid) {
			s.log.Warn("admin API: refused a connection", zap.Uint32("uid", cred.Uid), zap.Int32("pid", cred.Pid))
			writeError(w, http.StatusForbidden, fmt.Errorf("uid %d is not allowed: the admin API serves root and uid %d only", cred.Uid, s.uid))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // an error means the client went away: nothing to tell it
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
}

// checkNetwork reports a network name the switch does not have.
func (s *Server) checkNetwork(name string) error {
	if _, ok := s.vnis[name]; name != "" && !ok {
		return fmt.Errorf("no network %q (networks: %s)", name, strings.Join(s.nets, ", "))
	}
	return nil
}

// checkPort reports a port name the switch does not have (now).
func (s *Server) checkPort(name string) error {
	if name == "" {
		return nil
	}
	var names []string
	for _, p := range s.sw.Ports() {
		if p.Name == name {
			return nil
		}
		names = append(names, p.Name)
	}
	return fmt.Errorf("no port %q (ports: %s)", name, strings.Join(names, ", "))
}

func (s *Server) handleFDB(w http.ResponseWriter, r *http.Request) {
	network := r.URL.Query().Get("network")
	if err := s.checkNetwork(network); err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	out := []FDBEntry{}
	for _, e := range s.sw.FDB(network) {
		fe := FDBEntry{Network: e.Network, VNI: e.VNI, MAC: e.MAC.String(), Where: e.Where, Type: e.Type.String()}
		if e.Type == fdb.Learned {
			fe.AgeSeconds = seconds(e.Age)
			fe.Source = "learned from " + e.Where
		} else {
			fe.Source = "config"
		}
		out = append(out, fe)
	}
	writeJSON(w, out)
}

func (s *Server) handleNeigh(w http.ResponseWriter, r *http.Request) {
	network := r.URL.Query().Get("network")
	if err := s.checkNetwork(network); err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	out := []NeighEntry{}
	for _, e := range s.sw.Neighbors(network) {
		ne := NeighEntry{Network: e.Network, VNI: e.VNI, IP: e.IP.String(), MAC: e.MAC.String(), Type: e.Type.String()}
		if e.Type == fdb.Learned {
			ne.AgeSeconds = seconds(e.Age)
		}
		out = append(out, ne)
	}
	writeJSON(w, out)
}

func (s *Server) handlePorts(w http.ResponseWriter, r *http.Request) {
	out := []PortEntry{}
	for _, p := range s.sw.Ports() {
		e := PortEntry{
			Name: p.Name, Network: p.Network, VNI: s.vnis[p.Network], Netns: p.Netns, IfName: p.IfName,
			MAC: p.MAC.String(), MTU: p.MTU,
			RxFrames: p.IO.RxFrames, RxBytes: p.IO.RxBytes, TxFrames: p.IO.TxFrames, TxBytes: p.IO.TxBytes,
			TxErrors: p.IO.TxErrors, Drops: p.Drops,
		}
		if o := p.Offloads; o != nil {
			e.Offload = &PortOffload{Mode: o.Mode, GSOWrites: o.GSOWrites, GSOSegments: o.GSOSegments, BadOffload: o.BadOffload}
		}
		out = append(out, e)
	}
	writeJSON(w, out)
}

func (s *Server) handlePeers(w http.ResponseWriter, r *http.Request) {
	// Networks with MACs behind a VTEP: where it was seen.
	seen := map[string]map[string]bool{}
	for _, e := range s.sw.FDB("") {
		if strings.HasPrefix(e.Where, "vtep ") {
			if seen[e.Where] == nil {
				seen[e.Where] = map[string]bool{}
			}
			seen[e.Where][e.Network] = true
		}
	}
	out := []PeerEntry{}
	for _, p := range s.sw.Peers() {
		configured := map[string]bool{}
		for _, n := range s.opts.PeerNetworks[p.Addr] {
			configured[n] = true
		}
		pe := PeerEntry{
			VTEP: p.Addr.String(), Networks: []string{},
			RxDatagrams: p.IO.RxFrames, RxBytes: p.IO.RxBytes, TxDatagrams: p.IO.TxFrames, TxBytes: p.IO.TxBytes,
			TxErrors: p.IO.TxErrors,
		}
		for _, n := range s.nets {
			if configured[n] || seen["vtep "+pe.VTEP][n] {
				pe.Networks = append(pe.Networks, n)
			}
		}
		if p.LastSeen >= 0 {
			pe.LastSeenSeconds = seconds(p.LastSeen)
		}
		out = append(out, pe)
	}
	writeJSON(w, out)
}

func counters(st vswitch.Stats) Counters {
	c := Counters{
		Received: st.Received, Forwarded: st.Forwarded, Flooded: st.Flooded, Proxied: st.Proxied,
		Dropped: st.Dropped(), Drops: map[string]uint64{}, NotLearned: st.LearnFull,
	}
	for _, r := range vswitch.Reasons() {
		c.Drops[r.String()] = st.Drops[r.String()]
	}
	return c
}

func (c *Counters) add(o Counters) {
	c.Received += o.Received
	c.Forwarded += o.Forwarded
	c.Flooded += o.Flooded
	c.Proxied += o.Proxied
	c.Dropped += o.Dropped
	c.NotLearned += o.NotLearned
	for k, v := range o.Drops {
		c.Drops[k] += v
	}
}

// stats assembles GET /v1/stats.
func (s *Server) stats() Stats {
	nets, unmatched := s.sw.Stats()
	out := Stats{
		Networks: []NetworkStats{}, Unmatched: counters(unmatched),
		UnderlayTxErrors: s.sw.UnderlayTxErrors(), CaptureDrops: s.drops.Load(),
	}
	if u, ok := s.sw.UnderlayOffloads(); ok {
		out.Underlay = &UnderlayStats{
			Mode: u.Mode, GSOMessages: u.GSOMessages, GSODatagrams: u.GSODatagrams,
			GRORuns: u.GRORuns, GRODatagrams: u.GRODatagrams,
			GSOSockets: u.GSOSockets, GSOPortsRefused: u.GSOPortsRefused,
		}
	}
	out.Total.Counters = counters(vswitch.Stats{})
	out.Total.add(out.Unmatched)
	for _, n := range nets {
		ns := NetworkStats{Name: n.Name, VNI: n.VNI, Counters: counters(n.Stats), MACs: n.MACs, Neighbors: n.Neighbors}
		out.Networks = append(out.Networks, ns)
		out.Total.add(ns.Counters)
		out.Total.MACs += n.MACs
		out.Total.Neighbors += n.Neighbors
	}
	s.mu.Lock()
	out.Sessions = len(s.sessions)
	s.mu.Unlock()
	return out
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.stats())
}

func (s *Server) handleExplain(w http.ResponseWriter, r *http.Request) {
	var req ExplainRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("explain: bad request body: %w", err))
		return
	}
	var (
		steps []string
		v     vswitch.Verdict
	)
	switch {
	case req.Underlay:
		if req.Port != "" || req.Frame != "" {
			writeError(w, http.StatusBadRequest, errors.New("explain: give either port and frame, or underlay, from and datagram"))
			return
		}
		from, err := ParseFrom(req.From)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("explain: from: %w", err))
			return
		}
		dgram, err := DecodeHex(req.Datagram)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("explain: datagram: %w", err))
			return
		}
		steps, v = s.sw.ExplainDatagram(from, dgram)
	default:
		if req.Port == "" {
			writeError(w, http.StatusBadRequest, errors.New("explain: give port and frame, or underlay, from and datagram"))
			return
		}
		frame, err := DecodeHex(req.Frame)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("explain: frame: %w", err))
			return
		}
		if err := s.checkPort(req.Port); err != nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("explain: %w", err))
			return
		}
		steps, v, err = s.sw.Explain(req.Port, frame)
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
	}
	if steps == nil {
		steps = []string{}
	}
	writeJSON(w, Explanation{Steps: steps, Verdict: verdictOf(v)})
}

// startSession subscribes a new session with filter f to the switch. The
// function it returns ends the session; calling it again does nothing.
func (s *Server) startSession(f filter) (*session, func()) {
	s.mu.Lock()
	s.nextID++
	sess := newSession(s.nextID, f, &s.drops)
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	cancel := s.sw.Subscribe(sess)
	var once sync.Once
	return sess, func() {
		once.Do(func() {
			cancel()
			s.mu.Lock()
			delete(s.sessions, sess.id)
			s.mu.Unlock()
			sess.drain()
		})
	}
}

func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if err != nil || sess == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("no session %q", r.PathValue("id")))
		return
	}
	sess.requestStop()
	w.WriteHeader(http.StatusNoContent)
}

// pump hands the session's records to emit until count records were
// emitted (0: no limit), the session is stopped, the server shuts down or
// the client goes away. On a stop it first empties the queue. It returns
// how many records were emitted and the first error of emit.
func (s *Server) pump(ctx context.Context, sess *session, count uint64, emit func(*record) error) (uint64, error) {
	var n uint64
	one := func(r record) error {
		sess.take(&r)
		err := emit(&r)
		r.release()
		switch {
		case err == nil:
			n++
		case errors.Is(err, errSkip):
			err = nil
		}
		return err
	}
	for count == 0 || n < count {
		select {
		case r := <-sess.q:
			if err := one(r); err != nil {
				return n, err
			}
		case <-ctx.Done():
			return n, ctx.Err()
		case <-sess.stop:
			return s.flushQueue(sess, count, &n, one)
		case <-s.closed:
			return s.flushQueue(sess, count, &n, one)
		}
	}
	return n, nil
}

func (s *Server) flushQueue(sess *session, count uint64, n *uint64, one func(record) error) (uint64, error) {
	for count == 0 || *n < count {
		select {
		case r := <-sess.q:
			if err := one(r); err != nil {
				return *n, err
			}
		default:
			return *n, nil
		}
	}
	return *n, nil
}

// streamParams reads the parameters common to captures and traces.
func (s *Server) streamParams(r *http.Request) (network, port string, count uint64, err error) {
	q := r.URL.Query()
	network, port = q.Get("network"), q.Get("port")
	if c := q.Get("count"); c != "" {
		count, err = strconv.ParseUint(c, 10, 64)
		if err != nil {
			return "", "", 0, fmt.Errorf("count %q: want a number of packets (0: no limit)", c)
		}
	}
	if err := s.checkNetwork(network); err != nil {
		return "", "", 0, err
	}
	if err := s.checkPort(port); err != nil {
		return "", "", 0, err
	}
	return network, port, count, nil
}

// startStream writes the response header of a capture or trace.
func startStream(w http.ResponseWriter, sess *session, contentType string) *http.ResponseController {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set(HeaderSession, strconv.FormatUint(sess.id, 10))
	h.Set("Trailer", TrailerPackets+", "+TrailerDrops)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	return rc
}

// endStream sets the trailers of a capture or trace.
func endStream(w http.ResponseWriter, packets, drops uint64) {
	w.Header().Set(TrailerPackets, strconv.FormatUint(packets, 10))
	w.Header().Set(TrailerDrops, strconv.FormatUint(drops, 10))
}

// peerFields names the client in session log lines.
func peerFields(r *http.Request) []zap.Field {
	if cred := peerFrom(r.Context()); cred != nil {
		return []zap.Field{zap.Uint32("uid", cred.Uid), zap.Int32("pid", cred.Pid)}
	}
	return nil
}
