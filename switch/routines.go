package vswitch

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/tap"
)

// Batch sizes for the readers.
const (
	underlayBatch = 64
	underlayBuf   = 65536
)

// routineReadFromPort reads frames from one queue of a port until the port
// is removed or its device vanishes (the container's namespace died): then
// the port is removed with one log line and everything else keeps running.
// A multi-queue port has one such routine per queue.
func (s *Switch) routineReadFromPort(p *Port, r tap.Reader) {
	defer s.wg.Done()
	s.log.Debug("routine started: read from port", zap.String("port", p.cfg.Name))
	defer s.log.Debug("routine stopped: read from port", zap.String("port", p.cfg.Name))
	w := s.NewWorker(s.underlay.NewSender())
	w.Batch()
	batch := max(r.BatchSize(), 1)
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, Headroom+maxFrameBuf)
	}
	sizes := make([]int, len(bufs))
	for {
		n, err := r.Read(bufs, sizes, Headroom)
		if err != nil {
			s.portFailed(p, err)
			return
		}
		w.StartBatch()
		for i := 0; i < n; i++ {
			w.FromPort(p, bufs[i], Headroom, sizes[i])
		}
		w.Flush()
	}
}

// portFailed removes p after a read error, with one log line however many
// of its queues' readers fail; nothing is logged if p was removed already
// (its reader was woken by the removal).
func (s *Switch) portFailed(p *Port, err error) {
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	if p.removed.Load() {
		return
	}
	if errors.Is(err, tap.ErrGone) {
		s.log.Info("port removed: its namespace or link is gone", zap.String("port", p.cfg.Name),
			zap.String("netns", p.cfg.Netns), zap.Error(err))
	} else {
		s.log.Error("port removed: read failed", zap.String("port", p.cfg.Name), zap.Error(err))
	}
	s.removePortLocked(p)
}

// routineReadFromUnderlay reads VXLAN datagrams until the underlay closes.
func (s *Switch) routineReadFromUnderlay() {
	defer s.wg.Done()
	s.log.Debug("routine started: read from underlay")
	defer s.log.Debug("routine stopped: read from underlay")
	w := s.NewWorker(s.underlay.NewSender())
	w.Batch()
	r := s.underlay.NewReceiver(underlayBatch, underlayBuf)
	for {
		msgs, err := r.Read()
		if err != nil {
			select {
			case <-s.closing:
			default:
				s.log.Error("underlay read failed; switch stops receiving", zap.Error(err))
			}
			return
		}
		w.StartBatch()
		for i := range msgs {
			w.FromUnderlay(msgs[i].Addr, msgs[i].Buf[:msgs[i].N])
		}
		w.Flush()
	}
}

// routineAgeing removes aged entries once a second. Lookups already treat
// aged entries as misses; this bounds memory.
func (s *Switch) routineAgeing() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
			s.Expire()
		}
	}
}

// Expire removes aged learned entries from every table, and peers that
// came in through allow_unknown_peers and have been silent for as long as
// their networks' MAC ageing, with the MACs learned behind them.
func (s *Switch) Expire() {
	now := s.now()
	for _, d := range s.domains {
		d.macs.Expire(now)
		d.neigh.Expire(now)
	}
	if s.peerIdle == 0 {
		return
	}
	if gone := s.peers.expire(now, s.peerIdle); len(gone) > 0 {
		for _, d := range s.domains { // one sweep per table, however many peers went
			d.macs.FlushDests(func(dest fdb.Dest) bool { return dest.Kind == fdb.KindVTEP && gone[dest.ID] })
		}
	}
}
