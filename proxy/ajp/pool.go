package ajp

import (
	"context"
	"slices"
	"sync"
	"time"
)

// hostPool holds the connections to one backend address: it limits how many
// are open (Config.MaxConns), keeps up to Config.MaxIdle idle ones for reuse,
// and closes those idle longer than Config.IdleTimeout.
type hostPool struct {
	t    *Transport
	addr string

	mu      sync.Mutex // guards the fields below; never held during I/O
	idle    []*conn    // oldest first; get takes the newest
	open    int        // connections open or being dialed, idle or in use
	waiters []chan struct{}
	timer   *time.Timer // prunes expired idle connections; nil when none is idle
}

// get returns a connection to use for one request: an idle one that still
// works, else a new one. fresh skips idle connections. It waits for a free
// place while MaxConns are open. Errors match ErrNotSent.
func (p *hostPool) get(ctx context.Context, fresh bool) (*conn, error) {
	cfg := &p.t.cfg
	for {
		if err := ctx.Err(); err != nil {
			return nil, notSent(err)
		}
		p.mu.Lock()
		if !fresh {
			for len(p.idle) > 0 {
				c := p.idle[len(p.idle)-1]
				p.idle = p.idle[:len(p.idle)-1]
				p.mu.Unlock()
				if p.usable(c) {
					c.reused = true
					return c, nil
				}
				c.close()
				p.mu.Lock()
			}
		}
		if cfg.MaxConns <= 0 || p.open < cfg.MaxConns {
			p.open++
			p.mu.Unlock()
			c, err := p.dial(ctx)
			if err != nil {
				p.release()
				return nil, err
			}
			return c, nil
		}
		if fresh && len(p.idle) > 0 { // make room for the new connection
			c := p.idle[0]
			p.idle = p.idle[1:]
			p.mu.Unlock()
			c.close()
			continue
		}
		w := make(chan struct{}, 1)
		p.waiters = append(p.waiters, w)
		p.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			p.mu.Lock()
			i := slices.Index(p.waiters, w)
			if i >= 0 {
				p.waiters = slices.Delete(p.waiters, i, i+1)
			}
			p.mu.Unlock()
			if i < 0 { // woken after all: pass the wake-up on
				p.wakeOne()
			}
			return nil, notSent(ctx.Err())
		}
	}
}

// usable reports whether an idle connection may serve a request: not idle for
// too long, not closed by the backend, and answering CPING when it has been
// idle longer than Config.CPingBeforeReuseAfter.
func (p *hostPool) usable(c *conn) bool {
	cfg := &p.t.cfg
	idle := time.Since(c.idleAt)
	if cfg.IdleTimeout > 0 && idle >= cfg.IdleTimeout {
		return false
	}
	if !peerOpen(c.nc) {
		return false
	}
	if cfg.CPingBeforeReuseAfter > 0 && idle >= cfg.CPingBeforeReuseAfter {
		if err := c.cping(cfg.PingTimeout); err != nil {
			return false
		}
	}
	return true
}

func (p *hostPool) dial(ctx context.Context) (*conn, error) {
	nc, err := p.t.dial(ctx, p.addr)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, notSent(&dialError{addr: p.addr, err: err})
	}
	return newConn(nc, p, p.t.cfg.PacketSize), nil
}

// put returns a connection that finished a request cleanly to the idle list,
// or closes it when the list is full.
func (p *hostPool) put(c *conn) {
	cfg := &p.t.cfg
	c.nc.SetDeadline(time.Time{})
	c.idleAt = time.Now()
	p.mu.Lock()
	if cfg.MaxIdle < 0 || len(p.idle) >= cfg.MaxIdle {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	if p.timer == nil && cfg.IdleTimeout > 0 {
		p.timer = time.AfterFunc(cfg.IdleTimeout, p.prune)
	}
	p.wakeOneLocked()
	p.mu.Unlock()
}

// release forgets a closed connection and lets a waiter open another.
func (p *hostPool) release() {
	p.mu.Lock()
	p.open--
	p.wakeOneLocked()
	p.mu.Unlock()
}

func (p *hostPool) wakeOne() {
	p.mu.Lock()
	p.wakeOneLocked()
	p.mu.Unlock()
}

func (p *hostPool) wakeOneLocked() {
	if len(p.waiters) == 0 {
		return
	}
	w := p.waiters[0]
	p.waiters = slices.Delete(p.waiters, 0, 1)
	w <- struct{}{} // cap 1, and each waiter is woken at most once
}

// prune closes idle connections older than IdleTimeout and schedules itself
// for the next one to expire.
func (p *hostPool) prune() {
	ttl := p.t.cfg.IdleTimeout
	now := time.Now()
	p.mu.Lock()
	var expired []*conn
	keep := p.idle[:0]
	for _, c := range p.idle {
		if now.Sub(c.idleAt) >= ttl {
			expired = append(expired, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	if len(p.idle) > 0 {
		p.timer = time.AfterFunc(ttl-now.Sub(p.idle[0].idleAt), p.prune)
	} else {
		p.timer = nil
	}
	p.mu.Unlock()
	for _, c := range expired {
		c.close()
	}
}

// closeIdle closes every idle connection.
func (p *hostPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// stats returns the number of open and idle connections.
func (p *hostPool) stats() (open, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, len(p.idle)
}
