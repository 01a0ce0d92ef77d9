package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDemoAddrs(t *testing.T) {
	for _, tc := range []struct {
		name, flag string
		want       [3]string
		wantErr    bool
	}{
		{name: "one address: the next two ports", flag: "127.0.0.1:8080", want: [3]string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8082"}},
		{name: "port 0 for all", flag: "localhost:0", want: [3]string{"localhost:0", "localhost:0", "localhost:0"}},
		{name: "three addresses", flag: "127.0.0.1:9180, 127.0.0.1:9182,127.0.0.1:9183", want: [3]string{"127.0.0.1:9180", "127.0.0.1:9182", "127.0.0.1:9183"}},
		{name: "ipv6", flag: "[::1]:8080", want: [3]string{"[::1]:8080", "[::1]:8081", "[::1]:8082"}},
		{name: "two addresses", flag: "127.0.0.1:1,127.0.0.1:2", wantErr: true},
		{name: "no port", flag: "127.0.0.1", wantErr: true},
		{name: "port too high for three", flag: "127.0.0.1:65534", wantErr: true},
		{name: "empty", flag: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := demoAddrs(tc.flag)
			if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
				t.Errorf("demoAddrs(%q) = %q, %v; want %q, error %v", tc.flag, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestDemoIntro checks that the intro opens with the status page and that
// every command in it names this run's addresses.
func TestDemoIntro(t *testing.T) {
	d := demoIntroData{
		Status:   "127.0.0.1:9180",
		Jar:      "/tmp/demo/cookies",
		Control:  "127.0.0.1:9181",
		Root:     "/data/tether/ca/root.crt",
		Backends: []string{"tomcat1 (127.0.0.1:4001)", "tomcat2 (127.0.0.1:4002)", "tomcat3 (127.0.0.1:4003)"},
		Proxies: []demoIntroProxy{
			{Name: "proxy1", Site: "127.0.0.1:8080", HTTPS: "https://localhost:8443", Admin: "127.0.0.1:9180"},
			{Name: "proxy2", Site: "127.0.0.1:8081", HTTPS: "https://localhost:8444", Admin: "127.0.0.1:9182"},
			{Name: "proxy3", Site: "127.0.0.1:8082", HTTPS: "https://localhost:8445", Admin: "127.0.0.1:9183"},
		},
	}
	var out bytes.Buffer
	if err := demoIntro.Execute(&out, d); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if first := strings.Fields(text); len(first) < 2 || first[0] != "open" || first[1] != "http://127.0.0.1:9180/" {
		t.Errorf("intro starts with %q; want \"open http://127.0.0.1:9180/\"\n%s", first[:min(2, len(first))], text)
	}
	for _, want := range []string{
		"http://127.0.0.1:8080/", "http://127.0.0.1:8081/", "http://127.0.0.1:8082/",
		"https://localhost:8443/", "status page http://127.0.0.1:9183/",
		"--cacert /data/tether/ca/root.crt https://localhost:8443/",
		"http://127.0.0.1:9181/backends/tomcat1/stop",
		"http://127.0.0.1:9180/api/balancers/demo/members/tomcat2/state",
		"tomcat2 (127.0.0.1:4002)",
		"Stop with Ctrl-C", "-c /tmp/demo/cookies -b /tmp/demo/cookies http://127.0.0.1:8081/",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("intro lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "<no value>") || strings.Contains(text, "%!") {
		t.Errorf("intro has an unfilled field:\n%s", text)
	}
}
