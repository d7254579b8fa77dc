# The shared vocabulary of the project. `make help` lists the targets.
GO      ?= go
BIN     := bin
PKGS_E2E := ./e2e/...
export PATH := $(PATH):/usr/local/go/bin:/usr/sbin:/sbin

.PHONY: help build test test-unit test-e2e bench proto lint demo run registry deps clean

help:
	@echo "build      build bin/berthd and bin/berth"
	@echo "test       everything CI runs (unit, conformance and end-to-end tests)"
	@echo "test-unit  unit and conformance tests"
	@echo "test-e2e   end-to-end tests against a real berthd, containerd and registry"
	@echo "bench      berth (driven by the docker CLI) side by side with ctr"
	@echo "proto      regenerate the plugin protocol code (needs protoc)"
	@echo "lint       go vet, gofmt and staticcheck"
	@echo "demo       install host packages, run a container through berthd, stop everything"
	@echo "run        start berthd in the foreground"
	@echo "registry   serve a busybox image from a registry on 127.0.0.1 (for trying berthd by hand)"

build:
	$(GO) build -o $(BIN)/berthd ./cmd/berthd
	$(GO) build -o $(BIN)/berth ./cmd/berth

deps:
	@bash e2e/deps.sh

test: build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m -p 1 $$($(GO) list ./... | grep -v /e2e)
	$(GO) test -count=1 -timeout 20m -p 1 $(PKGS_E2E)

test-unit:
	$(GO) test -count=1 -timeout 20m -p 1 $$($(GO) list ./... | grep -v /e2e)

test-e2e: build
	$(GO) test -count=1 -timeout 20m -v $(PKGS_E2E)

bench: deps build
	$(GO) run ./e2e/bench

proto:
	bash sdk/gen.sh

STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	@[ -x $(STATICCHECK) ] || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	$(STATICCHECK) ./...

demo: deps build
	bash e2e/demo.sh

run: build
	./$(BIN)/berthd $(ARGS)

registry:
	$(GO) run ./e2e/registry

clean:
	rm -rf $(BIN)
