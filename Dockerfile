# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#          -t registry.example/gerritgate:v0.1.0 .
#        (`gerritgate version` prints both; .git is not sent to the build, so
#        the commit must be passed.)
# Run:   docker run -v $PWD/config:/etc/gerritgate:ro -v gerritgate-data:/var/lib/gerritgate \
#          -p 8080:8080 gerritgate serve --config /etc/gerritgate/gerritgate.yaml
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/gerritgate ./cmd/gerritgate

FROM debian:bookworm-slim
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.version=${VERSION} org.opencontainers.image.revision=${COMMIT}
# git: the server side of every clone is C git's upload-pack; pack-objects
# and index-pack copy approved objects; merge-tree checks Gerrit's merge
# commits. openssh-client: fetching from Gerrit over ssh://.
# ca-certificates: Gerrit over HTTPS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/gerritgate --create-home gerritgate
COPY --from=build /out/gerritgate /usr/local/bin/gerritgate
USER 10001:10001
WORKDIR /var/lib/gerritgate
VOLUME /var/lib/gerritgate
EXPOSE 8080 2222
ENTRYPOINT ["/usr/local/bin/gerritgate"]
CMD ["serve", "--config", "/etc/gerritgate/gerritgate.yaml"]
