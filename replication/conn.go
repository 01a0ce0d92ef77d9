package replication

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// errPeerName means the node at a peer's address announced another name.
var errPeerName = errors.New("peer announced a different node name")

// conn wraps a connection with its frame buffers and write deadline.
type conn struct {
	t    *Table
	c    net.Conn
	buf  []byte // frame body
	pbuf []byte // plaintext
}

func (c *conn) write(frame []byte) error {
	c.c.SetWriteDeadline(time.Now().Add(c.t.cfg.WriteTimeout))
	_, err := c.c.Write(frame)
	return err
}

func (c *conn) send(plaintext []byte) error { return c.write(c.t.sync.kr.seal(plaintext)) }

// read reads, authenticates and decodes one frame of at most maxSize bytes.
// An authentication failure is returned as errAuth.
func (c *conn) read(maxSize int) (message, error) {
	var err error
	c.buf, err = readFrame(c.c, c.buf, maxSize)
	if err != nil {
		return message{}, err
	}
	p, err := c.t.sync.kr.open(c.pbuf, c.buf)
	if err != nil {
		return message{}, err
	}
	c.pbuf = p[:0]
	return decodeMessage(p)
}

// acceptLoop serves inbound connections until the listener is closed.
func (t *Table) acceptLoop(ctx context.Context) {
	s := &t.sync
	delay := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn().Err(err).Msg("accept replication connection")
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		s.mu.Lock()
		if s.closed || len(s.inbound) >= maxInbound {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.inbound[c] = struct{}{}
		s.mu.Unlock()
		go func() { // owned by Run: Close closes c, which ends it
			defer func() {
				s.mu.Lock()
				delete(s.inbound, c)
				s.mu.Unlock()
				c.Close()
			}()
			t.serveConn(c)
		}()
	}
}

// serveConn is the inbound side of a peer's connection: it applies what the
// peer pushes and answers its anti-entropy digests.
func (t *Table) serveConn(nc net.Conn) {
	c := &conn{t: t, c: nc}
	remote := nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(remote); err == nil {
		remote = h
	}
	nc.SetReadDeadline(time.Now().Add(t.cfg.DialTimeout))
	m, err := c.read(maxHelloSize)
	if err == nil && m.typ != msgHello {
		err = errFormat
	}
	if err != nil {
		if errors.Is(err, errAuth) || errors.Is(err, errFormat) {
			t.rejected(remote, err)
		}
		return
	}
	name := m.name
	log := t.log.With().Str("peer", name).Logger()
	if err := c.send(encodeHello(t.cfg.NodeName, t.isReady())); err != nil {
		return
	}
	idle := 3*t.cfg.AntiEntropyInterval + t.cfg.DialTimeout
	for {
		nc.SetReadDeadline(time.Now().Add(idle))
		m, err := c.read(t.cfg.MaxFrameSize)
		if err != nil {
			if errors.Is(err, errAuth) || errors.Is(err, errFormat) {
				t.rejected(remote, err)
			}
			return
		}
		switch m.typ {
		case msgEntries, msgMemberStates:
			t.applyMessage(&m)
		case msgStats:
			t.storeStats(name, m.stats, t.cfg.Now())
		case msgDigest:
			if err := t.answerDigest(c, &m); err != nil {
				log.Debug().Err(err).Msg("answer anti-entropy digest")
				return
			}
		}
	}
}

// rejected counts and logs, once per remote host, a connection whose frames
// are not authenticated or not well formed. Nothing else is ever logged from
// such frames.
func (t *Table) rejected(who string, err error) {
	s := &t.sync
	if errors.Is(err, errAuth) {
		s.authFailures.Add(1)
	}
	s.mu.Lock()
	_, seen := s.authLogged[who]
	if !seen && len(s.authLogged) < 1024 {
		s.authLogged[who] = struct{}{}
	}
	s.mu.Unlock()
	if !seen {
		msg := "replication frame rejected: malformed"
		if errors.Is(err, errAuth) {
			msg = "replication frame rejected: not authenticated by the cluster key"
		}
		t.log.Error().Str("peer", who).Msg(msg)
	}
}

func (t *Table) applyMessage(m *message) {
	now := t.cfg.Now()
	switch m.typ {
	case msgEntries:
		t.sync.recvEntries.Add(uint64(len(m.entries)))
		t.observeLag(m.entries, now)
		t.Apply(m.entries, now)
	case msgMemberStates:
		t.applyMemberStates(m.memberStates, now)
	}
}

// observeLag records how old the newest entry of a received frame is: for a
// pushed batch, the time from the write on its origin to its arrival here
// (clock skew between the nodes included). Frames whose newest entry is
// older than lagWindow are anti-entropy repairs, not the push stream, and
// are not counted.
func (t *Table) observeLag(es []Entry, now time.Time) {
	var newest Version
	for i := range es {
		newest = max(newest, es[i].Version)
	}
	if newest == 0 {
		return
	}
	lag := max(now.Sub(newest.Wall()), 0)
	if lag < lagWindow {
		t.sync.lag.Store(int64(lag))
		t.sync.lagAt.Store(now.UnixNano())
	}
}

// lagWindow bounds what observeLag counts as the push stream.
const lagWindow = 10 * time.Second

// answerDigest compares a peer's digests with ours, sends our entries of every
// shard that differs (and our member states if those differ), then the reply
// naming those shards, so the peer sends its own. A node not yet synced
// answers with nothing: its half-filled table would only make the peer resend
// everything, and its own peer loops are fetching the full copy.
func (t *Table) answerDigest(c *conn, m *message) error {
	if !t.isReady() {
		return c.send(encodeDigestReply(m.round, false, false, nil))
	}
	ours := t.digests(m.vcut, m.ecut)
	var diff []uint16
	for i := range ours {
		if ours[i] != m.digests[i] {
			diff = append(diff, uint16(i))
		}
	}
	msDiffer := t.memberStateDigest() != m.msDigest
	if err := t.sendShards(c, diff); err != nil {
		return err
	}
	if msDiffer {
		if err := c.send(encodeMemberStates(t.MemberStates())); err != nil {
			return err
		}
	}
	return c.send(encodeDigestReply(m.round, true, msDiffer, diff))
}

// sendShards sends every unexpired entry of the given shards, in frames of at
// most BatchEntries entries.
func (t *Table) sendShards(c *conn, shards []uint16) error {
	nowS := unixSec(t.cfg.Now())
	batch := make([]Entry, 0, t.cfg.BatchEntries)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := c.send(encodeEntries(batch))
		batch = batch[:0]
		return err
	}
	var tmp []Entry
	for _, sh := range shards {
		tmp = t.appendShard(tmp[:0], int(sh), nowS)
		for len(tmp) > 0 {
			n := min(t.cfg.BatchEntries-len(batch), len(tmp))
			batch = append(batch, tmp[:n]...)
			tmp = tmp[n:]
			if len(batch) == t.cfg.BatchEntries {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// peerLoop keeps a connection to p open until ctx is done, reconnecting with
// jittered exponential backoff (50ms to 5s, as HAProxy's peers do to avoid
// reconnect storms).
func (t *Table) peerLoop(ctx context.Context, p *peer) {
	log := t.log.With().Str("peer", p.name).Str("addr", p.addr).Logger()
	delay := 50 * time.Millisecond
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		err := t.peerSession(ctx, p)
		p.connected.Store(false)
		p.ready.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			delay, failures = 50*time.Millisecond, 0
		}
		failures++
		if errors.Is(err, errAuth) || errors.Is(err, errFormat) {
			t.rejected(p.name, err)
		} else if failures == 1 || failures%100 == 0 {
			log.Info().Err(err).Int("failures", failures).Msg("replication peer unreachable")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff(delay)):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// peerSession runs one outbound connection to p: handshake, an immediate
// anti-entropy round, then pushes, periodic rounds and repairs until an error
// or ctx is done (then it drains the queue for up to drainTimeout).
func (t *Table) peerSession(ctx context.Context, p *peer) error {
	d := net.Dialer{Timeout: t.cfg.DialTimeout, KeepAlive: 15 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	c := &conn{t: t, c: nc}
	if err := c.send(encodeHello(t.cfg.NodeName, t.isReady())); err != nil {
		return err
	}
	nc.SetReadDeadline(time.Now().Add(t.cfg.DialTimeout))
	h, err := c.read(maxHelloSize)
	if err != nil {
		return err
	}
	if h.typ != msgHello {
		return errFormat
	}
	if h.name != p.name {
		return fmt.Errorf("%w: %q", errPeerName, h.name)
	}
	nc.SetReadDeadline(time.Time{})
	p.ready.Store(h.ready)
	p.connected.Store(true)
	if !h.ready {
		t.checkAllStarting()
	}
	t.log.Info().Str("peer", p.name).Bool("peer_ready", h.ready).Msg("replication peer connected")
	defer t.log.Info().Str("peer", p.name).Msg("replication peer disconnected")

	// Frames queued while disconnected are still valid changes and are sent
	// after the first round; whatever overflowed the queue is covered by
	// that round, which compares every entry, recent ones included.
	p.resync.Store(false)

	readErr := make(chan error, 1)
	go func() { // ends when nc is closed (deferred above)
		readErr <- t.readPeer(c, p)
	}()
	defer nc.Close()

	// A round is not started while the previous one is unanswered (a large
	// repair can take longer than the interval), unless it has been
	// outstanding for several intervals.
	var sentAt time.Time
	// Periodic rounds leave out recent entries (still in the push stream);
	// the first round of a connection and a round after an overflow do not
	// (the push stream lost them).
	round := func(force bool) error {
		if !force && p.awaiting.Load() != 0 && time.Since(sentAt) < 5*t.cfg.AntiEntropyInterval {
			return nil
		}
		r := t.sync.round.Add(1)
		p.awaiting.Store(r)
		sentAt = time.Now()
		vcut, ecut := digestWindow(unixSec(t.cfg.Now()), force || !t.isReady())
		return c.send(encodeDigest(r, vcut, ecut, t.digests(vcut, ecut), t.memberStateDigest()))
	}
	p.awaiting.Store(0)
	if err := round(true); err != nil {
		return err
	}
	ae := time.NewTicker(t.cfg.AntiEntropyInterval)
	defer ae.Stop()
	stats := time.NewTicker(t.cfg.StatsInterval)
	defer stats.Stop()
	for {
		select {
		case <-ctx.Done():
			c.drain(p)
			return nil
		case err := <-readErr:
			return err
		case f := <-p.q:
			if err := c.write(f); err != nil {
				return err
			}
		case <-ae.C:
			if err := round(false); err != nil {
				return err
			}
		case <-stats.C:
			if f := t.statsFrame(); f != nil {
				if err := c.send(f); err != nil {
					return err
				}
			}
		case <-p.wake:
			if p.resync.Swap(false) {
				t.sync.resyncs.Add(1)
				drainQueue(p)
				if err := round(true); err != nil {
					return err
				}
			}
			p.mu.Lock()
			shards, ms := p.repair, p.repairMS
			p.repair, p.repairMS = nil, false
			p.mu.Unlock()
			if err := t.sendShards(c, shards); err != nil {
				return err
			}
			if ms {
				if err := c.send(encodeMemberStates(t.MemberStates())); err != nil {
					return err
				}
			}
		}
	}
}

// readPeer reads what a peer sends back on our outbound connection: its
// entries for differing shards and its digest replies.
func (t *Table) readPeer(c *conn, p *peer) error {
	for {
		m, err := c.read(t.cfg.MaxFrameSize)
		if err != nil {
			return err
		}
		switch m.typ {
		case msgEntries, msgMemberStates:
			t.applyMessage(&m)
		case msgDigestReply:
			p.awaiting.CompareAndSwap(m.round, 0)
			if !m.ready {
				p.ready.Store(false)
				t.checkAllStarting()
				continue
			}
			p.ready.Store(true)
			t.markReady("synced from " + p.name)
			if len(m.shards) > 0 || m.msDiffer {
				p.mu.Lock()
				p.repair = append(p.repair, m.shards...)
				p.repairMS = p.repairMS || m.msDiffer
				p.mu.Unlock()
				p.kick()
			}
		}
	}
}

func drainQueue(p *peer) {
	for {
		select {
		case <-p.q:
		default:
			return
		}
	}
}

// drain writes what is queued for p, for up to drainTimeout.
func (c *conn) drain(p *peer) {
	deadline := time.Now().Add(drainTimeout)
	c.c.SetWriteDeadline(deadline)
	for time.Now().Before(deadline) {
		select {
		case f := <-p.q:
			if _, err := c.c.Write(f); err != nil {
				return
			}
		default:
			return
		}
	}
}
