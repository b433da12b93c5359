# The image the DaemonSet runs. Stage one compiles the TypeScript and the
# NVML addon; stage two carries only what runs: no compiler, no dev packages,
# no simulated-driver stubs (those exist for tests only).
FROM node:20-bookworm AS build
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY native-bindings ./native-bindings
COPY agent ./agent
COPY bench ./bench
COPY bin ./bin
# npm ci runs the `prepare` script, which builds the addon and the JavaScript.
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
# tini is PID 1 so SIGTERM from the kubelet reaches the agent and zombies are reaped.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/accel-agent
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/build/native/accel_nvml.node ./build/native/accel_nvml.node
ENV NODE_ENV=production
# Two malloc arenas instead of one per thread: the agent's few threads barely
# contend, and each extra arena keeps megabytes it once used (docs/deploy.md).
ENV MALLOC_ARENA_MAX=2
# V8 grows its young generation to 16 MiB in the start-up burst and keeps it
# for seconds, the process's peak; a daemon allocating under a megabyte a
# second is served by 2 MiB (docs/deploy.md).
ENV NODE_OPTIONS=--max-semi-space-size=1
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/opt/accel-agent/bin/accel-agent.js"]
CMD ["run", "--host-root", "/host"]
