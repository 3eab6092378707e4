# A small image of Portcullis: built in a Rust image, run as a non-root user on a distroless
# base that carries only glibc, libgcc and CA certificates.
#
#   docker build -t portcullis .
#   docker run -p 5000:5000 -v portcullis-data:/var/lib/portcullis portcullis
#
# The data directory (blobs, uploads, SQLite, audit log, master key) is a volume; with
# [storage] backend = "s3" and [metadata] url set, the container holds no state at all.

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin portcullis \
    && install -D -m 0755 target/release/portcullis /out/portcullis \
    && install -d -m 0700 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/portcullis /usr/local/bin/portcullis
# The nonroot user (65532) owns the data directory, created 0700 as the server wants it.
COPY --from=build --chown=65532:65532 /out/data /var/lib/portcullis
USER 65532:65532
ENV PORTCULLIS_DATA_DIR=/var/lib/portcullis \
    PORTCULLIS_LISTEN=0.0.0.0:5000
VOLUME ["/var/lib/portcullis"]
EXPOSE 5000
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
