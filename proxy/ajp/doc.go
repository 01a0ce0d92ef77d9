// Package ajp is part of Tether; see DESIGN.md for what it owns.
package ajp
