package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// cmdHashPassword prints the bcrypt hash basic_auth takes, as Caddy's
// hash-password does: of --plaintext, else of the first line of stdin.
func cmdHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	plain := fs.String("plaintext", "", "the password (default: read one line from stdin)")
	cost := fs.Int("cost", 14, "bcrypt cost, 4..31 (Caddy's default is 14)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		return usageError{fmt.Errorf("--cost %d: want %d..%d", *cost, bcrypt.MinCost, bcrypt.MaxCost)}
	}
	pw := *plain
	if pw == "" {
		if f, ok := stdin.(*os.File); ok && isTerminal(f) {
			fmt.Fprint(stderr, "Password (it is shown as you type): ")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		return usageError{errors.New("empty password")}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(h))
	return nil
}
