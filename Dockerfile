# One image holding the manager, the REST facade and the runners.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY apiserver/ apiserver/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY runners/ runners/
COPY hack/ hack/
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
# Runner pods pass only arguments, so the runner is the entry point; the
# manager and facade Deployments name their command.
ENTRYPOINT ["/usr/local/bin/runner"]
