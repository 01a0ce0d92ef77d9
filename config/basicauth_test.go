package config

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestBasicAuthDirective(t *testing.T) {
	const hash = "$2a$04$3qkgKP5ElZj5g7RF5.XJfOx3v/pHP4z5y8Lkbq9l7wBw6u3dZzkbe" // 60 bytes, bcrypt's form
	b64 := base64.StdEncoding.EncodeToString([]byte(hash))
	cfg, err := Parse("Caddyfile", []byte("example.com {\n\tbasic_auth /admin/* bcrypt \"Shop admin\" {\n\t\tops "+hash+"\n\t\tdev "+b64+"\n\t}\n\tbasicauth {\n\t\tall "+hash+"\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	as := cfg.Sites[0].BasicAuths
	if len(as) != 2 || as[0].Path != "/admin/*" || as[0].Realm != "Shop admin" || len(as[0].Accounts) != 2 ||
		string(as[0].Accounts[1].Hash) != hash || as[1].Path != "" || as[1].Realm != "restricted" {
		t.Errorf("basic_auth %+v %+v; want /admin/* \"Shop admin\" with ops and dev (base64 decoded), then every path, realm restricted", as[0], as[1])
	}
	for _, tc := range []struct{ src, wantErr string }{
		{"\tbasic_auth\n", "basic_auth: want a block of USER HASH lines"},
		{"\tbasic_auth scrypt {\n\t\ta " + hash + "\n\t}\n", `basic_auth: hash "scrypt": only bcrypt is supported`},
		{"\tbasic_auth {\n\t\ta secret\n\t}\n", `basic_auth: the password of "a" is not a bcrypt hash`},
		{"\tbasic_auth {\n\t\ta " + hash + "\n\t\ta " + hash + "\n\t}\n", `basic_auth: user "a" is listed twice`},
		{"\tbasic_auth @admin {\n\t\ta " + hash + "\n\t}\n", "basic_auth: no matcher named @admin is defined"},
	} {
		if _, err := Parse("Caddyfile", []byte("example.com {\n"+tc.src+"}\n")); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v; want %q", tc.src, err, tc.wantErr)
		}
	}
}
