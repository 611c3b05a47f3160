# A small non-root image: a static-ish release build on Debian, run on distroless (glibc,
# CA certificates, no shell, user 65532).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin dsguard

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/dsguard /dsguard
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/dsguard"]
CMD ["serve", "--cluster"]
