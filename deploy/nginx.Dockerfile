# nginx from Debian's packages, with the service's configuration and error bodies.
# Built by compose.yaml (context: this directory).
FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*
COPY nginx.conf /etc/nginx/nginx.conf
COPY errors/ /usr/share/cds-nginx/errors/
EXPOSE 8080
CMD ["nginx", "-g", "daemon off;"]
