# Life-Go: one command per job across every module of the workspace.
# The module list comes from go.work (via `go list -m`), never a second list.

SHELL        := /bin/bash
GO           ?= go
MODULES      := $(shell $(GO) list -m -f '{{.Path}}')
PKGS         := $(addsuffix /...,$(MODULES))
STATICCHECK  := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT ?= 30m
BENCHTIME    ?= 1s
BIN          := bin

.PHONY: all test vet race contract lint fmt-check staticcheck bench build clean modules

all: build test

modules: ## print the workspace modules
	@printf '%s\n' $(MODULES)

# test: go vet and the race-enabled tests of every module; fails if any fails.
test: contract vet race

vet:
	$(GO) vet $(PKGS)

race:
	$(GO) test -race -timeout $(TEST_TIMEOUT) $(PKGS)

# contract: aios is the kernel contract and depends on the standard library only.
contract:
	@deps=$$(cd aios && GOWORK=off $(GO) list -m all); \
	if [ "$$deps" != "github.com/lifeos/life/aios" ]; then \
		echo "aios must depend on the standard library only; go list -m all says:"; echo "$$deps"; exit 1; \
	fi

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$($(GO) list -m -f '{{.Dir}}')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

# bench: every benchmark once, no unit tests.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

# build: every command of every module into ./bin.
build:
	@mkdir -p $(BIN)
	$(GO) build $(PKGS)
	@for m in $(MODULES); do \
		for c in $$($(GO) list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' $$m/...); do \
			$(GO) build -o $(BIN)/ $$c || exit 1; \
		done; \
	done

clean:
	rm -rf $(BIN)
