# Tweezer: a Kubernetes operator for neutral-atom quantum workloads.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

CONTROLLER_GEN := go tool controller-gen
# golangci-lint has its own module so that its dependencies do not move ours.
GOLANGCI_LINT := go tool -modfile=hack/tools/go.mod golangci-lint
ENVTEST_ASSETS = $(shell hack/envtest-bins.sh)

.PHONY: all
all: generate manifests build

##@ Development

.PHONY: generate
generate: ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: manifests
manifests: ## Generate CRDs and the RBAC roles of the manager and the facade.
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	go run ./hack/gendevices > config/devices/devices.yaml
	@if compgen -G 'controllers/*.go' >/dev/null; then \
	  $(CONTROLLER_GEN) rbac:roleName=tweezer-manager paths="./controllers/..." output:rbac:artifacts:config=config/rbac/manager; fi
	@if compgen -G 'apiserver/*.go' >/dev/null; then \
	  $(CONTROLLER_GEN) rbac:roleName=tweezer-apiserver paths="./apiserver/..." output:rbac:artifacts:config=config/rbac/apiserver; fi

.PHONY: verify
verify: generate manifests ## Fail when generated files or formatting are stale, or the linters (.golangci.yml) find something.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	$(GOLANGCI_LINT) run ./...
	@test -z "$$(git status --porcelain -- api config)" || { git status --short -- api config; echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }

.PHONY: envtest
envtest: ## Build (once) the offline control-plane binaries for tests (and kube-controller-manager for the local e2e suite).
	@hack/envtest-bins.sh >/dev/null
	@KUBECTL=0 hack/local-bins.sh >/dev/null

.PHONY: test
test: verify envtest ## Run unit and envtest suites.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./... -count=1 -timeout 30m

.PHONY: build
build: ## Build the binaries into bin/.
	go build -o bin/ ./cmd/...

.PHONY: run
run: ## Run the platform locally: control plane, manager, facade, demo project, example batch.
	@hack/envtest-bins.sh >/dev/null
	@echo "==> building kubectl and kube-controller-manager into bin/ (once)"
	@hack/local-bins.sh >/dev/null
	@echo "==> building the binaries into bin/"
	@go build -o bin/ ./cmd/...
	@echo "==> finding (or installing) Jupyter for learners' notebooks"
	@jupyter=$$(hack/jupyter/install.sh) || { echo "    (notebooks will fail until Jupyter is installed; the platform runs anyway)"; jupyter=jupyter; }; \
	  bin/local --data-dir .tweezer --jupyter "$$jupyter" --kubectl bin/kubectl \
	  --kube-controller-manager "$$(hack/local-bins.sh 2>/dev/null)/kube-controller-manager"

.PHONY: deploy
deploy: ## Deploy to the cluster of the current kubeconfig: make deploy IMG=registry/tweezer:tag
	@test -n "$(IMG)" || { echo "usage: make deploy IMG=<image>"; exit 2; }
	kubectl kustomize config/default | sed 's#ghcr.io/tweezer-dev/tweezer:latest#$(IMG)#g' | kubectl apply --server-side -f -

.PHONY: help
help:
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: bench-emulator
bench-emulator: ## Benchmark the emulator: adiabatic ring, 3 µs, N = 4..22 in precisions normal (baseline) and low (wall/CPU time, peak memory, sweeps, error bound). BIG=1 adds N = 24; CPUS=1,2 compares core counts.
	hack/bench-emulator.sh

.PHONY: bench-mps
bench-mps: ## Benchmark the MPS engine: emu-mps's AFM sequence on chains and grids (χ reached, wall/CPU time, peak heap, error vs the state vector). CASES=large|all for 50 atoms and 5x5/6x6 grids.
	go run ./hack/bench-mps -cases $(or $(CASES),small)

.PHONY: bench-apiserver
bench-apiserver: envtest ## Benchmark the REST facade on the local control plane: 1,000 batches x 10 jobs, req/s and p50/p99 vs direct kube-apiserver reads.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/bench-apiserver

.PHONY: bench-controllers
bench-controllers: envtest ## Benchmark the execution path: 200 batches x 5 jobs on the local control plane (jobs/s, start latency).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/bench-controllers
