package main

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPassword(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		stdin string
	}{
		{args: []string{"--plaintext", "s3cret", "--cost", "4"}},
		{args: []string{"--cost", "4"}, stdin: "s3cret\n"},
	} {
		var out, errw strings.Builder
		if err := cmdHashPassword(tc.args, strings.NewReader(tc.stdin), &out, &errw); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		h := strings.TrimSpace(out.String())
		if !strings.HasPrefix(h, "$2a$04$") || bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret")) != nil {
			t.Errorf("%v: %q is not a bcrypt hash of the password", tc.args, h)
		}
	}
	if err := cmdHashPassword(nil, strings.NewReader(""), &strings.Builder{}, &strings.Builder{}); err == nil {
		t.Error("an empty password was hashed")
	}
}
