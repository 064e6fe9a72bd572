# Build: docker build -t forecourt .   (rustls only: the runtime needs ca-certificates, no OpenSSL)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/forecourt /usr/local/bin/forecourt
WORKDIR /var/lib/forecourt
# The bot's flows and their texts, for admins to edit (mount over them to keep edits).
COPY flows /var/lib/forecourt/flows
COPY templates/flows /var/lib/forecourt/templates/flows
ENV FORECOURT_HTTP_ADDR=0.0.0.0:8080 FORECOURT_DATA_DIR=/var/lib/forecourt/data
EXPOSE 8080
ENTRYPOINT ["forecourt"]
CMD ["run"]
