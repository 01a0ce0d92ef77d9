package replication

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// memberStates is the replicated member-state map: small, never expiring,
// persisted to a file.
type memberStates struct {
	// mu guards m and digest. Lock order: before Table.outMu, after nothing.
	mu     sync.Mutex
	m      map[[2]string]MemberState
	digest uint64

	path string
	// fileMu serializes writes of the file (held without mu).
	fileMu sync.Mutex

	changed chan struct{} // cap 1; see MemberStatesChanged
	dirty   chan struct{} // cap 1; wakes Run to persist remote changes
}

type stateFile struct {
	Format       int           `json:"format"`
	MemberStates []MemberState `json:"member_states"`
}

func (s *memberStates) init(path string) error {
	s.m = make(map[[2]string]MemberState)
	s.path = path
	s.changed = make(chan struct{}, 1)
	s.dirty = make(chan struct{}, 1)
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read member states: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("read member states from %s: %w", path, err)
	}
	for _, m := range f.MemberStates {
		if validMemberState(m) {
			s.mergeLocked(m)
		}
	}
	return nil
}

func validMemberState(m MemberState) bool {
	return validName(m.Balancer) && validName(m.Member) && validName(m.State) && validName(m.Origin)
}

// mergeLocked merges m and reports whether it changed the map.
func (s *memberStates) mergeLocked(m MemberState) bool {
	k := [2]string{m.Balancer, m.Member}
	old, ok := s.m[k]
	if ok {
		w := MergeMemberState(old, m)
		if w == old {
			return false
		}
		s.digest ^= memberStateDigest(old)
		m = w
	}
	s.m[k] = m
	s.digest ^= memberStateDigest(m)
	return true
}

func (s *memberStates) list() []MemberState {
	s.mu.Lock()
	out := make([]MemberState, 0, len(s.m))
	for _, m := range s.m {
		out = append(out, m)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b MemberState) int {
		if c := strings.Compare(a.Balancer, b.Balancer); c != 0 {
			return c
		}
		return strings.Compare(a.Member, b.Member)
	})
	return out
}

func (s *memberStates) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// persist writes the whole map to the file: a temporary file in the same
// directory, fsync, rename, fsync of the directory.
func (s *memberStates) persist() error {
	if s.path == "" {
		return nil
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	b, err := json.MarshalIndent(stateFile{Format: 1, MemberStates: s.list()}, "", "\t")
	if err != nil {
		return fmt.Errorf("encode member states: %w", err)
	}
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write member states: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write member states to %s: %w", s.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// SetMemberState sets the state of member in balancer cluster-wide (the
// admin API's set-state): the change gets a new Version from this node, is
// written to Config.StatePath before SetMemberState returns, and is
// replicated to every peer, which persist it too. The table does not
// interpret state; the proxy does.
func (t *Table) SetMemberState(balancer, member, state string, now time.Time) (MemberState, error) {
	m := MemberState{Balancer: balancer, Member: member, State: state, Origin: t.cfg.NodeName}
	if !validMemberState(m) {
		return MemberState{}, ErrInvalid
	}
	m.Version = t.clock.tick(now)
	t.ms.mu.Lock()
	t.ms.mergeLocked(m)
	t.ms.mu.Unlock()
	t.outMu.Lock()
	t.outMS = append(t.outMS, m)
	t.outMu.Unlock()
	select {
	case t.outKick <- struct{}{}:
	default:
	}
	t.ms.notify()
	if err := t.ms.persist(); err != nil {
		return m, err
	}
	return m, nil
}

// MemberStates returns every member state, sorted by balancer and member.
func (t *Table) MemberStates() []MemberState { return t.ms.list() }

// MemberState returns the state of member in balancer, if one was set.
func (t *Table) MemberState(balancer, member string) (MemberState, bool) {
	t.ms.mu.Lock()
	m, ok := t.ms.m[[2]string{balancer, member}]
	t.ms.mu.Unlock()
	return m, ok
}

// MemberStatesChanged returns a channel that receives (capacity 1, so
// several changes may coalesce into one receive) after any member state
// changed, locally or from a peer. The proxy reads MemberStates then and
// rebuilds its routing tables. There is one channel per table: use one
// consumer.
func (t *Table) MemberStatesChanged() <-chan struct{} { return t.ms.changed }

// applyMemberStates merges member states from a peer and reports how many
// changed the map; changes are persisted by Run.
func (t *Table) applyMemberStates(ms []MemberState, now time.Time) int {
	n := 0
	t.ms.mu.Lock()
	for _, m := range ms {
		if !validMemberState(m) {
			continue
		}
		t.clock.observe(m.Version, now, t.cfg.MaxClockSkew)
		if t.ms.mergeLocked(m) {
			n++
		}
	}
	t.ms.mu.Unlock()
	if n > 0 {
		t.ms.notify()
		select {
		case t.ms.dirty <- struct{}{}:
		default:
		}
	}
	return n
}

func (t *Table) memberStateDigest() uint64 {
	t.ms.mu.Lock()
	defer t.ms.mu.Unlock()
	return t.ms.digest
}
