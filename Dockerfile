# distributed-ts: dscheduler, dworker and dcluster on the PATH (see docs/deploy.md).
#   docker build -t distributed-ts .
#   docker run -p 8786:8786 distributed-ts                       # a scheduler
#   docker run distributed-ts dworker tcp://SCHEDULER:8786 --host 0.0.0.0
FROM node:20-bookworm-slim

WORKDIR /opt/distributed-ts
# Dependencies first (cached while only sources change); no scripts yet: the sources are not here.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY lib lib
COPY actors actors
COPY machines machines
COPY bin bin
COPY benchmarks benchmarks
COPY examples examples
RUN npm run build && npm prune --omit=dev \
    && for cmd in dscheduler dworker dcluster; do ln -s "/opt/distributed-ts/dist/bin/$cmd.js" "/usr/local/bin/$cmd"; done

# openssh-client only for dcluster run from inside the image.
RUN apt-get update && apt-get install -y --no-install-recommends openssh-client && rm -rf /var/lib/apt/lists/*

EXPOSE 8786 8787
CMD ["dscheduler", "--host", "0.0.0.0", "--port", "8786", "--dashboard-address", ":8787"]
