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

# The real-node e2e (internal/node/e2e) needs root, containerd and a kubelet
# build of about half an hour cold; `make test-node` runs it.
NODE_E2E := ./internal/node/e2e

.PHONY: test
test: verify envtest ## Run unit and envtest suites (all but the real-node e2e: make test-node).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test $$(go list ./... | grep -v '/internal/node/e2e$$') -count=1 -timeout 30m

.PHONY: test-node
test-node: envtest node ## Run the e2e suite on a real node: runner Pods on containerd and a kubelet (root; builds kubelet and the images once).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test $(NODE_E2E) -count=1 -timeout 60m -v

.PHONY: build
build: ## Build the binaries into bin/.
	go build -o bin/ ./cmd/...

.PHONY: run
run: ## Run the platform locally: control plane, manager, facade, demo project, example batch. NODE=1: on a real node (containerd, kubelet), runners as Pods.
	@hack/envtest-bins.sh >/dev/null
	@echo "==> building kubectl and kube-controller-manager into bin/ (once)"
	@hack/local-bins.sh >/dev/null
	@echo "==> building the binaries into bin/"
	@go build -o bin/ ./cmd/...
	@node=""; if [ "$(NODE)" = 1 ]; then \
	  echo "==> building kubelet and kube-scheduler (once), installing containerd, runc and the CNI plugins"; \
	  node=$$(hack/node-bins.sh); \
	  echo "==> building the Tweezer and pause images into bin/images"; \
	  go run ./hack/image -out bin/images -containerd "" >/dev/null; \
	fi; \
	echo "==> finding (or installing) Jupyter for learners' notebooks"; \
	jupyter=$$(hack/jupyter/install.sh) || { echo "    (notebooks will fail until Jupyter is installed; the platform runs anyway)"; jupyter=jupyter; }; \
	  bin/local --data-dir .tweezer --jupyter "$$jupyter" --kubectl bin/kubectl \
	  --kube-controller-manager "$$(hack/local-bins.sh 2>/dev/null)/kube-controller-manager" \
	  --node "$$node" --images bin/images/pause.tar,bin/images/tweezer.tar,bin/images/notebook.tar

.PHONY: image
image: ## Build the Tweezer image (runner, manager, facade), the pause image and the notebook stand-in as OCI tarballs in bin/images, no Docker; import them into the node's containerd if it runs.
	go run ./hack/image -out bin/images -containerd .tweezer/node/containerd/containerd.sock

.PHONY: node
node: ## Build (once) what a real node needs: kubelet, kube-scheduler, crictl; install containerd, runc and the CNI plugins (Debian, as root).
	@hack/node-bins.sh >/dev/null

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

.PHONY: bench-node
bench-node: envtest node ## Benchmark the Pod executor on a real node against the Process executor, in one run: 50 batches x 5 jobs each (jobs/s, p50/p99 start latency; root). BATCHES=, JOBS= scale it.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/bench-node -batches $(or $(BATCHES),50) -jobs $(or $(JOBS),5)

.PHONY: bench-controllers
bench-controllers: envtest ## Benchmark the execution path: 200 batches x 5 jobs on the local control plane (jobs/s, start latency).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/bench-controllers

.PHONY: bench-abuse
bench-abuse: envtest ## Measure what one tenant's flood does to another: B's batch start and facade p99 quiet vs while A floods 1 MiB batches and workloads (refusals by status, peak heap/RSS). PHASE=20s sets each phase's length.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/bench-abuse -phase $(or $(PHASE),20s)
