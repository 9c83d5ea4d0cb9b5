# gemini-balance in a container: gb-serve -l 0.0.0.0:8000.
#
#   docker build -t gemini-balance .
#   docker run -p 127.0.0.1:8000:8000 -e API_KEYS='["AIza..."]' \
#       -e ALLOWED_TOKENS='["my-token"]' gemini-balance
#
# The builder stage compiles and runs the whole test suite (make check;
# --build-arg CHECK=no builds without it); the runtime stage has only the tools, their man pages and the shared
# libraries they need, and runs as an unprivileged user.

FROM debian:bookworm-slim AS builder
# tests/deps.sh installs what building and testing need (one list, shared
# with make check and CI)
COPY tests/deps.sh /tmp/deps.sh
RUN sh /tmp/deps.sh && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# the tests run as an ordinary user, as they would on a workstation
RUN useradd -m builder && chown -R builder /src
USER builder
ARG CHECK=yes
RUN make clean && if [ "$CHECK" = no ]; then make all; else make check CI=1; fi
USER root
RUN make install PREFIX=/usr/local DESTDIR=/out

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	libcurl4 libjansson4 libsystemd0 libmp3lame0 libhiredis0.14 \
	ca-certificates curl \
	>/dev/null \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --home-dir /var/lib/gemini-balance \
	   --shell /usr/sbin/nologin gemini \
	&& install -d -o gemini -g gemini -m 0700 /var/lib/gemini-balance
COPY --from=builder /out/usr/local/ /usr/local/
ENV STATE_DIRECTORY=/var/lib/gemini-balance
WORKDIR /var/lib/gemini-balance
USER gemini
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
	CMD curl -fsS http://127.0.0.1:8000/health || exit 1
CMD ["gb-serve", "-l", "0.0.0.0:8000"]
