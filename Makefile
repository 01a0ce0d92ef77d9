# Tether's build and test entry points. `make test` is what CI runs
# (.ci/run); it installs what the tests need first (scripts/deps.sh).

GO       ?= go
FUZZTIME ?= 20s

.PHONY: all build test deps lint unit dist-check fuzz bench bench-scaling demo clean release package image

# Release builds (make release, package, image) stamp these; VERSION is the
# v* tag at HEAD, else v0.0.0-dev+<commit> (scripts/version.sh).
VERSION ?= $(shell bash scripts/version.sh)
DIST    ?= dist

all: build

# -buildvcs=auto stamps the module version and VCS revision that
# `tether version` prints, also where GOFLAGS has -buildvcs=false.
build:
	$(GO) build -buildvcs=auto -o bin/tether ./cmd/tether

# test: everything CI checks, on a fresh machine.
test: deps lint dist-check unit fuzz

deps:
	bash scripts/deps.sh

lint:
	bash scripts/lint.sh

unit:
	$(GO) test -race -count=1 -timeout 40m ./...

# fuzz: every Fuzz target in the module for FUZZTIME each (make fuzz FUZZTIME=60s).
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

# dist-check: make release is reproducible, the .deb installs, validates and
# serves its packaged config and passes systemd-analyze verify, the OCI
# image's layout and config are right, the monitoring rules load in promtool.
dist-check:
	bash scripts/check-dist.sh

# release: static linux/amd64 and linux/arm64 binaries and SHA256SUMS in dist/.
release:
	VERSION=$(VERSION) DIST=$(DIST) bash scripts/release.sh

# package: .deb and .rpm for both architectures in dist/ (nfpm, tools/go.mod).
package: release
	VERSION=$(VERSION) DIST=$(DIST) bash scripts/package.sh

# image: an OCI image tarball (amd64 and arm64, from scratch, non-root) in dist/.
image: release
	VERSION=$(VERSION) DIST=$(DIST) bash scripts/image.sh

bench:
	bash bench/run.sh

# bench-scaling: the go test -bench scaling curves (bench/README.md, "Scaling").
bench-scaling:
	bash bench/scaling.sh

demo:
	@echo "Building tether (the first build takes a minute or two; later ones are cached)..."
	$(GO) run ./cmd/tether demo

clean:
	rm -rf bin $(DIST)
