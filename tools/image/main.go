// Command image writes Tether's container image as an OCI image layout in
// a tar file (make image), without a Docker daemon or a registry: an empty
// base, one layer per platform holding the static tether binary, the CA
// certificates, /etc/passwd and /etc/group entries for a non-root user, the
// container's default Caddyfile and the /data state directory, and a
// config that runs tether as that user.
//
// The output is reproducible: file times and the image's creation time
// come from -created (the commit's time), the layer tar is written in a
// fixed order with fixed owners, and gzip carries no timestamp.
//
//	go -C tools run ./image -version v0.1.0 -revision HASH -created EPOCH \
//	    -bin linux/amd64=dist/tether_0.1.0_linux_amd64 \
//	    -bin linux/arm64=dist/tether_0.1.0_linux_arm64 \
//	    -caddyfile packaging/container.Caddyfile -o dist/tether_0.1.0_oci.tar
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The non-root user the container runs as (distroless's "nonroot" ids).
const (
	uid      = 65532
	userName = "nonroot"
)

type binFlag map[string]string // "os/arch" → binary path

func (b binFlag) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binFlag) Set(s string) error {
	plat, path, ok := strings.Cut(s, "=")
	if !ok || !strings.Contains(plat, "/") {
		return fmt.Errorf("want os/arch=PATH, got %q", s)
	}
	b[plat] = path
	return nil
}

func main() {
	bins := binFlag{}
	flag.Var(bins, "bin", "os/arch=PATH of a static tether binary (repeat per platform)")
	version := flag.String("version", "", "the image version (v0.1.0); also its org.opencontainers.image.ref.name")
	revision := flag.String("revision", "", "the commit the binaries were built from")
	created := flag.Int64("created", 0, "creation time and file times, seconds since the epoch (the commit's time)")
	caddyfile := flag.String("caddyfile", "packaging/container.Caddyfile", "the image's /etc/tether/Caddyfile")
	cacerts := flag.String("cacerts", "/etc/ssl/certs/ca-certificates.crt", "CA bundle for /etc/ssl/certs/ca-certificates.crt")
	out := flag.String("o", "", "output tar file")
	flag.Parse()
	if len(bins) == 0 || *version == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "image: -bin, -version and -o are required")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(bins, *version, *revision, time.Unix(*created, 0).UTC(), *caddyfile, *cacerts, *out); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(bins binFlag, version, revision string, created time.Time, caddyfile, cacerts, out string) error {
	conf, err := os.ReadFile(caddyfile)
	if err != nil {
		return err
	}
	certs, err := os.ReadFile(cacerts)
	if err != nil {
		return fmt.Errorf("CA certificates: %w", err)
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "tether",
		"org.opencontainers.image.description": "Cluster-aware, session-sticky reverse-proxy load balancer",
		"org.opencontainers.image.source":      "https://github.com/tether-proxy/tether",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, plat := range slices.Sorted(maps.Keys(bins)) {
		goos, arch, _ := strings.Cut(plat, "/")
		bin, err := os.ReadFile(bins[plat])
		if err != nil {
			return err
		}
		img, err := platformImage(goos, arch, bin, conf, certs, created, labels)
		if err != nil {
			return fmt.Errorf("%s: %w", plat, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: arch}},
		})
	}

	dir, err := os.MkdirTemp("", "tether-oci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": version,
	})); err != nil {
		return err
	}
	return tarDir(dir, out, created)
}

// platformImage is one platform's image: a single layer on an empty base.
func platformImage(goos, arch string, bin, conf, certs []byte, created time.Time, labels map[string]string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, owner int, body []byte) error {
		h := &tar.Header{Name: name, Mode: mode, Uid: owner, Gid: owner, ModTime: created, Format: tar.FormatPAX}
		if strings.HasSuffix(name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/data:/sbin/nologin\n", userName, uid, uid, userName)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, uid)
	for _, e := range []struct {
		name  string
		mode  int64
		owner int
		body  []byte
	}{
		{"data/", 0o750, uid, nil},
		{"etc/", 0o755, 0, nil},
		{"etc/group", 0o644, 0, []byte(group)},
		{"etc/passwd", 0o644, 0, []byte(passwd)},
		{"etc/ssl/", 0o755, 0, nil},
		{"etc/ssl/certs/", 0o755, 0, nil},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, 0, certs},
		{"etc/tether/", 0o755, 0, nil},
		{"etc/tether/Caddyfile", 0o644, 0, conf},
		{"tmp/", 0o1777, 0, nil},
		{"usr/", 0o755, 0, nil},
		{"usr/bin/", 0o755, 0, nil},
		{"usr/bin/tether", 0o755, 0, bin},
	} {
		if err := add(e.name, e.mode, e.owner, e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{
		Created: v1.Time{Time: created}, CreatedBy: "tether make image", Comment: "tether, CA certificates, nonroot user",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = goos, arch
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		Entrypoint: []string{"/usr/bin/tether"},
		Cmd:        []string{"run", "/etc/tether/Caddyfile"},
		User:       strconv.Itoa(uid) + ":" + strconv.Itoa(uid),
		WorkingDir: "/data",
		Env: []string{
			"PATH=/usr/bin",
			"TETHER_DATA=/data",
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		},
		// The container Caddyfile's HTTP and HTTPS ports, gossip (TCP and
		// UDP) and the session table (gossip + 1).
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "8443/tcp": {}, "7946/tcp": {}, "7946/udp": {}, "7947/tcp": {}},
		Volumes:      map[string]struct{}{"/data": {}},
		StopSignal:   "SIGTERM",
		Labels:       labels,
	}
	return mutate.ConfigFile(img, cf)
}

// tarDir writes the OCI layout in dir as a tar file, in name order, with
// fixed times and owners, so equal layouts give equal bytes.
func tarDir(dir, out string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		names = append(names, path)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(names)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, path := range names {
		rel, _ := filepath.Rel(dir, path)
		fi, err := os.Lstat(path)
		if err != nil {
			return errors.Join(err, f.Close())
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Mode: 0o644, Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
		} else {
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return errors.Join(err, f.Close())
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(path)
			if err != nil {
				return errors.Join(err, f.Close())
			}
			if _, err := tw.Write(data); err != nil {
				return errors.Join(err, f.Close())
			}
		}
	}
	if err := tw.Close(); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}
