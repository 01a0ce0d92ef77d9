# Tether's build and test entry points. `make test` is what CI runs
# (.ci/run); it installs what the tests need first (scripts/deps.sh).

GO       ?= go
FUZZTIME ?= 20s

.PHONY: all build test deps lint unit fuzz bench demo clean

all: build

# -buildvcs=auto stamps the module version and VCS revision that
# `tether version` prints, also where GOFLAGS has -buildvcs=false.
build:
	$(GO) build -buildvcs=auto -o bin/tether ./cmd/tether

# test: everything CI checks, on a fresh machine.
test: deps lint unit fuzz

deps:
	bash scripts/deps.sh

lint:
	bash scripts/lint.sh

unit:
	$(GO) test -race -count=1 -timeout 40m ./...

# fuzz: every Fuzz target in the module for FUZZTIME each (make fuzz FUZZTIME=60s).
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

bench:
	bash bench/run.sh

demo:
	$(GO) run ./cmd/tether demo

clean:
	rm -rf bin
