package routing

import "math/bits"

// Rendezvous (highest random weight) hashing, shared by failover and
// ip_hash. Every Tether instance must make the same choice for the same key
// and candidates without talking, whatever its architecture, so the hash is
// fixed (FNV-1a 64 finished by the splitmix64 mixer, no per-process seed)
// and the weighting uses integer arithmetic only: floating-point logarithms
// may differ in the last bit between amd64 assembly and the arm64 (fused
// multiply-add) build, which would split a mixed fleet on near ties.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvAdd continues an FNV-1a 64 hash over s.
func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix is splitmix64's finalizer: FNV's high bits avalanche poorly on short
// keys, and rendezvous compares whole 64-bit values.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// keyHash hashes a rendezvous key.
func keyHash(key string) uint64 { return mix(fnvAdd(fnvOffset, key)) }

// sessionHash is keyHash(sid.String()) without building the string.
func sessionHash(sid SessionID) uint64 {
	h := fnvAdd(fnvOffset, sid.ID)
	h = (h ^ '.') * fnvPrime
	return mix(fnvAdd(h, sid.Route))
}

// nameHash hashes a candidate's name; Tables compute it once per member.
func nameHash(name string) uint64 { return mix(fnvAdd(fnvOffset^0x9e3779b97f4a7c15, name)) }

// pairHash is the random value of one (key, candidate) pair.
func pairHash(key, name uint64) uint64 { return mix(key ^ name) }

// logFrac is the number of fractional bits of neglog2's fixed-point result.
const logFrac = 32

// neglog2 returns −log2(h / 2⁶⁴) as an unsigned fixed-point number with
// logFrac fractional bits, truncated, for a hash h (0 counts as 1). The
// result is at least 1 and never increases as h grows. It squares the
// mantissa once per fractional bit: integer only, so every platform gets the
// same bits.
func neglog2(h uint64) uint64 {
	if h == 0 {
		h = 1
	}
	n := bits.Len64(h) - 1 // integer part of log2(h)
	m := h << (63 - n)     // mantissa in [1, 2), 63 fractional bits
	var frac uint64
	for range logFrac {
		// m² has 126 fractional bits; if it is ≥ 2, emit a 1 and halve it.
		// Branch-free: the bit is random, and mispredictions would cost
		// more than the multiplication.
		hi, lo := bits.Mul64(m, m)
		b := hi >> 63
		frac = frac<<1 | b
		m = hi<<(1-b) | lo>>63&(b-1)
	}
	return uint64(64-n)<<logFrac - frac
}

// rvCand is one candidate being scored by rendezvous hashing.
type rvCand struct {
	h    uint64 // pairHash(key, name)
	w    uint64 // weight, >= 1
	l    uint64 // neglog2(h), computed when first needed (0 = not yet)
	name string
}

func (c *rvCand) log() uint64 {
	if c.l == 0 {
		c.l = neglog2(c.h)
	}
	return c.l
}

// beats reports whether c wins over d. The score of a candidate is an
// exponential variate of rate w, −ln(u)/w with u = h/2⁶⁴, and the lowest
// wins, so each candidate wins with probability w/Σw; ties go to the higher
// hash, then the smaller name. It is a strict total order, so the winner
// does not depend on the order of the candidates. With equal weights it is
// the plain highest hash (neglog2 is monotone), and no logarithm is taken.
func (c *rvCand) beats(d *rvCand) bool {
	if c.w != d.w {
		// neglog2 is monotone and at least 1: a higher (or equal) hash
		// with a higher weight wins without logarithms, and vice versa.
		if c.h >= d.h && c.w > d.w {
			return true
		}
		if c.h <= d.h && c.w < d.w {
			return false
		}
		ahi, alo := bits.Mul64(c.log(), d.w)
		bhi, blo := bits.Mul64(d.log(), c.w)
		if ahi != bhi {
			return ahi < bhi
		}
		if alo != blo {
			return alo < blo
		}
	}
	if c.h != d.h {
		return c.h > d.h
	}
	return c.name < d.name
}

// Candidate is one choice offered to Rendezvous.
type Candidate struct {
	Name   string
	Weight int // relative share of keys; values below 1 count as 1
}

// Rendezvous returns the index in candidates of the one key maps to by
// weighted rendezvous (highest random weight) hashing, or -1 if there are
// none. Each candidate gets a share of keys proportional to its weight;
// removing a candidate moves only its own keys, and the answer does not
// depend on the order of candidates or on the process. Table.Pick uses the
// same function, with the full session id (ID + "." + Route) as key, to
// choose a failover member, and with Request.ClientAddr for ip_hash.
func Rendezvous(key string, candidates ...Candidate) int {
	kh := keyHash(key)
	best := -1
	var b rvCand
	for i, c := range candidates {
		cur := rvCand{h: pairHash(kh, nameHash(c.Name)), w: uint64(max(c.Weight, 1)), name: c.Name}
		if best < 0 || cur.beats(&b) {
			best, b = i, cur
		}
	}
	return best
}
