# A small non-root image: a release build on Debian, run on distroless (glibc, CA
# certificates, no shell, user 65532).
#
# The build context is exactly the files below (.dockerignore lets nothing else in); the
# binary embeds the rule pages (docs/rules, `dsguard explain` and SARIF help) and the
# webhook configurations it registers (deploy/components/webhooks/webhooks.yaml).
# tests/docker_context.rs assembles this context from these COPY lines and compiles it.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY docs/rules ./docs/rules
COPY deploy/components/webhooks/webhooks.yaml ./deploy/components/webhooks/webhooks.yaml
RUN cargo build --release --locked --bin dsguard

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/dsguard /dsguard
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/dsguard"]
CMD ["serve", "--cluster"]
