package ajp

import (
	"errors"
	"io"
	"net/http"
	"testing"
)

// TestRefusedVersusApplication403 tells Tomcat's connector refusing a
// request (wrong secret: a short 403, then END_RESPONSE without reuse) from
// an application's own 403 (the connection stays open).
func TestRefusedVersusApplication403(t *testing.T) {
	const page = "<html>403</html>"
	for _, tc := range []struct {
		name        string
		reuse       bool
		wantRefused bool
	}{
		{name: "connector refusal closes the connection", reuse: false, wantRefused: true},
		{name: "application 403 keeps the connection", reuse: true, wantRefused: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, func(c *fakeConn) error {
				if _, err := c.readForward(); err != nil {
					return err
				}
				return c.send(sendHeaders(403, "403", "#1", "text/html", "#3", "16"), bodyChunk(page), endResponse(tc.reuse))
			})
			tr := newTransport(t, Config{Secret: "s"})
			resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://"+s.addr()+"/", nil))
			if tc.wantRefused {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("RoundTrip = %v, %v; want an error matching ErrRefused", resp, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("RoundTrip: %v; want the application's 403", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || string(body) != page || err != nil {
				t.Fatalf("RoundTrip = %d %q, %v; want 403 %q", resp.StatusCode, body, err, page)
			}
		})
	}
}
