// Package config reads Tether's configuration: a Caddyfile-syntax parser of
// its own (no Caddy import: Caddy's module graph would come with it) and
// the typed, validated Config
// it produces. It is pure apart from reading the config file and its
// imports: bytes in, a *Config or a positioned *Error out. It does not open
// listeners, read certificates or resolve names; the proxy does that with
// the Config.
//
// Load(path) is what "tether run -c" and "tether validate -c" call. Parse
// takes the source directly; ParseOptions injects the environment and the
// file system (for tests). Format rewrites a Caddyfile in canonical layout.
//
// # Errors
//
// Every configuration error is an *Error whose text is
// "file:line:col: message": the file is the one the offending token was
// written in (an imported file names itself; a token from a snippet names
// the snippet's definition), line and column start at 1 and columns count
// bytes. Read it with errors.AsType[*config.Error].
//
// # Tokens
//
// A file is a sequence of tokens separated by blanks; a newline ends a
// directive. Tokens are:
//
//	word       any run of non-blank bytes:        reverse_proxy  /app/*  a"b
//	quoted     "...", may span lines; \" and \\ are the only escapes
//	backtick   `...`, raw: no escapes, no placeholders
//	heredoc    <<MARKER at the end of a line, then lines up to one whose
//	           first non-blank text is MARKER. That line's indentation is
//	           removed from every line; the value has no final newline.
//	           More tokens may follow the closing MARKER on its line.
//	comment    # at the start of a token, to the end of the line
//
// A quote or backtick opens a string only at the start of a token; a
// closing quote ends the token. "{" and "}" are braces only as whole
// unquoted words, and "{}" at the end of a line is an empty block.
//
// # Grammar
//
//	file      = [ global ] { snippet | import | site } .
//	global    = "{" NL { directive } "}" NL .          (first block only)
//	site      = addresses "{" NL { directive } "}" NL
//	          | addresses NL { directive } .           (a lone site may omit braces)
//	addresses = address { [","] address } .            (a line ending in "," continues)
//	address   = [ "http://" | "https://" ] [ host ] [ ":" port ] .
//	directive = name { arg } [ "{" NL { directive } "}" ] NL .
//	snippet   = "(" name ")" "{" NL { line } "}" NL .  (top level only)
//	import    = "import" ( file | glob | snippet-name ) { arg } NL .
//
// A block's "{" ends the line that opens it; its "}" stands alone on a
// line.
//
// # Placeholders
//
// {$NAME} is the environment variable NAME and {$NAME:default} falls back
// to default when NAME is unset or empty; an unset variable without a
// default is "". They are replaced in words, quoted strings and heredocs
// (not in backticks). A word that is exactly one placeholder becomes the
// value's blank-separated fields, so "discover static {$SEEDS}" takes
// several seeds, and an unset variable there takes no argument at all.
// Placeholders never produce braces or imports.
//
// # Imports and snippets
//
// "import NAME ARGS..." pastes the snippet NAME if one is defined (before
// the import, in file order), else the file or glob NAME, relative to the
// directory of the file that contains the import line. A glob matching
// nothing imports nothing, and a glob never imports the importing file
// itself; a missing plain file is an error. In pasted tokens, {args[N]} is
// the N-th argument (an error when out of range), {args[lo:hi]} a slice
// ({args[:]} all, {args[1:]} from the second), clipped to the arguments
// there are. A word that is exactly a slice becomes one token per
// argument; elsewhere a slice is joined with spaces. Snippets defined in an
// imported file keep their placeholders for their own imports. Import
// cycles are errors naming the chain, and expansion is capped at 2^18
// tokens and lines.
//
// # Values
//
// Durations are Go's time.ParseDuration syntax plus "d" for 24 hours
// ("1d12h"), as Caddy's; a bare number other than 0 is an error (there is
// no implicit unit) and so is a negative duration. http_port, https_port
// and member ports are 1..65535; listen addresses (site, admin, cluster
// bind) may also take port 0, a free port, for tests.
// Member URLs are http://, https:// or ajp://host[:port], without path,
// and are stored with the scheme's default port made explicit (80, 443,
// 8009); a URL without scheme is http. Names of balancers and members
// appear in admin API paths and so are limited to letters, digits and
// "._-:@~[]".
//
// # Directives
//
// Global options: admin (token, origins), admin_token, http_port, https_port, email,
// acme_ca, acme_ca_root, storage, cluster (bind, advertise, gossip_key,
// profile, discover, session_ttl), drain_delay, shutdown_timeout, log.
// Site directives: trusted_proxies, tls, reverse_proxy, file_server, root,
// access_log, import_jk. ../Caddyfile.example shows and explains each one;
// the defaults are documented on the fields of Config. A directive that
// may appear once per block is an error when repeated; repeatable ones are
// trusted_proxies, reverse_proxy, to, backend, gossip_key and discover.
//
// tls's client_auth (tls.go) reads its certificate files when the config
// is parsed, as Caddy does, through ParseOptions.ReadFile and with paths
// as written (relative to the working directory, as tls CERT KEY): the
// certificates are part of the Config (ClientAuth), so a reload takes a
// renewed bundle and a file that cannot be read is an error at its name.
//
// # Expressions
//
// Caddy's expression matcher (expr.go) takes a CEL expression, which
// config parses and checks itself (no cel-go): the expression of a matcher
// line ("expression ...", its tokens joined with spaces as Caddy joins
// them) or the quoted argument of a named matcher ("@name `...`"). Its
// {env.NAME} placeholders are string constants (expandEnv leaves them in
// expression lines); other placeholders are request values of unknown
// type; Caddy's matcher functions with constant arguments become matcher
// sets (AddCondition) checked like matcher lines. The parsed tree
// (Expression.Root, with the kinds the checker knows) is what the proxy
// evaluates. Errors point into the expression: the token's position, plus
// the offset within it.
//
// # mod_jk
//
// import_jk records the files in Site.ImportJK; LoadJK (jk*.go) reads the
// workers.properties and uriworkermap.properties as mod_jk does and adds a
// balancer per mounted worker, validated like reverse_proxy blocks, and a
// file_server for doc_root. What it does not honour exactly becomes a
// Warning in Config.Warnings, at the file and line that set it.
// ImportJKCaddyfile and SiteCaddyfile print the equivalent Caddyfile
// ("tether import-jk"). ExpandImportJK, when set, replaces LoadJK.
//
// # Concurrency
//
// Parse, Load and Format may run concurrently; they share no state except
// ExpandImportJK, which is nil unless set before any parse. A Config is a plain value,
// read-only once returned.
package config
