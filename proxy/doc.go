// Package proxy is part of Tether; see DESIGN.md for what it owns.
package proxy
