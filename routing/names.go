package routing

import "strconv"

var (
	stateNames  = [...]string{Active: "active", Disabled: "disabled", Stopped: "stopped"}
	policyNames = [...]string{
		RoundRobin:    "round_robin",
		LeastRequests: "least_requests",
		LeastBusy:     "least_busy",
		P2C:           "p2c",
		Random:        "random",
		IPHash:        "ip_hash",
		First:         "first",
		URIHash:       "uri_hash",
		HeaderHash:    "header",
		QueryHash:     "query",
		RandomChoose:  "random_choose",
	}
	reasonNames = [...]string{
		ReasonBalanced: "balanced",
		ReasonSticky:   "sticky",
		ReasonRedirect: "redirect",
		ReasonDomain:   "domain",
		ReasonFailover: "failover",
	}
)

// String returns the configuration name of s ("active", "disabled",
// "stopped"), or "state(N)" for an unknown value.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// ParseState returns the State named s, as String spells it.
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if n == s {
			return State(i), true
		}
	}
	return 0, false
}

// String returns the Caddyfile name of p ("round_robin", "least_requests",
// "least_busy", "p2c", "random", "ip_hash", "first", "uri_hash",
// "header", "query", "random_choose"), or "policy(N)".
func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return "policy(" + strconv.Itoa(int(p)) + ")"
}

// ParsePolicy returns the Policy named s, as String spells it.
func ParsePolicy(s string) (Policy, bool) {
	for i, n := range policyNames {
		if n == s {
			return Policy(i), true
		}
	}
	return 0, false
}

// String returns a short lowercase name of r ("sticky", "failover", ...),
// or "reason(N)", for logs and metrics labels.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}
