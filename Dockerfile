# Container image for clover-signup.
#
#   docker build -t clover-signup .
#   docker run --rm -p 8080:8080 clover-signup            # demo mode
#
# reqwest uses rustls with its own (webpki) root certificates and SQLite is compiled in
# (rusqlite "bundled"), so the runtime image needs neither OpenSSL nor libsqlite.

############################ build ############################
FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies first: build a placeholder crate against the real Cargo.toml and
# Cargo.lock, so this layer stays cached until the dependencies change.
# The benchmark's file only has to exist for cargo to read the manifest; it is not built.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > benches/load.rs \
    && cargo build --release --locked \
    && rm -rf src

# Then the application: the message catalogues (compiled in by build.rs), the static
# files and the SQL migrations (compiled in too) and the code. `touch` makes sure cargo rebuilds the crate
# itself rather than trusting the placeholder's output.
COPY build.rs ./
COPY locales ./locales
COPY migrations ./migrations
COPY src ./src
COPY static ./static
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked

############################ run ##############################
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# The service runs as this unprivileged user.
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

WORKDIR /app
COPY --from=builder /build/target/release/clover-signup /app/clover-signup
COPY static /app/static
# On the PATH too, for `fly ssh console -C "clover-signup check"`.
RUN ln -s /app/clover-signup /usr/local/bin/clover-signup

# Writable places for the SQLite database: /app/data (the default DATABASE_URL,
# sqlite://data/clover-signup.db, relative to /app) and /data (where fly.toml mounts
# the volume and points DATABASE_URL). They hold visitors' personal data: the app user's
# only (the service makes its files 0600 itself).
RUN mkdir -p /app/data /data && chown app:app /app/data /data && chmod 700 /app/data /data

ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080

# A freshly created Fly.io volume is mounted at /data owned by root and readable by all.
# When the container starts as root, hand /data to the app user alone, then drop to that
# user (setpriv is part of Debian's util-linux). Started with --user, it runs as given.
ENTRYPOINT ["/bin/sh", "-c", "if [ \"$(id -u)\" = 0 ]; then if [ -d /data ]; then chown app:app /data && chmod 700 /data; fi; exec setpriv --reuid=app --regid=app --init-groups --no-new-privs -- \"$@\"; fi; exec \"$@\"", "clover-signup"]
CMD ["/app/clover-signup"]
