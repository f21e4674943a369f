# syntax=docker/dockerfile:1
# Build: docker build -t gerritgate .
# Run:   docker run -v $PWD/config:/etc/gerritgate:ro -v gerritgate-data:/var/lib/gerritgate \
#          -p 8080:8080 gerritgate serve --config /etc/gerritgate/gerritgate.yaml
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/gerritgate ./cmd/gerritgate

FROM debian:bookworm-slim
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
