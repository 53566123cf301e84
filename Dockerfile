# tokengate container image: a static binary on distroless, as a non-root user.
#   docker build -t tokengate .
#   docker run -p 8080:8080 -v tokengate-data:/data -e TOKENGATE_MASTER_KEY=... tokengate
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: the SQLite driver is pure Go, so the binary needs no libc.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=auto -ldflags="-s -w" -o /out/tokengate ./cmd/tokengate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokengate /tokengate
COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /data
USER 65532:65532
VOLUME /data
ENV TOKENGATE_ADDR=0.0.0.0:8080 \
    TOKENGATE_DB=/data/tokengate.db \
    TOKENGATE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s --start-period=5s CMD ["/tokengate", "healthcheck"]
ENTRYPOINT ["/tokengate"]
CMD ["serve"]
