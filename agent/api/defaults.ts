/** Shared by the server and its clients without pulling either into the other. */
export const DEFAULT_SOCKET_PATH = '/run/accel-agent/agent.sock';
export const AGENT_SERVICE_NAME = 'accel.agent.v1.AgentService';
