/** Wires the agent to this site: its database file and its worker on loopback. */
import { Agent, localPoster } from "./agent.js";
import type { ChildConfig } from "./child-protocol.js";

export async function startAgentChild(config: ChildConfig, token: string): Promise<Agent> {
  const agent = new Agent({
    post: localPoster({ host: config.site.host, port: config.site.port, token }),
    log: (line) => console.error(line),
    dbFile: config.site.db,
  });
  agent.start();
  return agent;
}
