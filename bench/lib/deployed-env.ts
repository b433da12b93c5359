/**
 * The environment the image (Dockerfile) and the systemd unit (scripts/install.sh)
 * give the daemon, so figures are those of the agent as deployed; a test keeps
 * the three in step.
 */
export const DEPLOYED_ENV: Readonly<Record<string, string>> = Object.freeze({ MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '--max-semi-space-size=1' });
