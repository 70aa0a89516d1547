/** Wires the agent to this site: its database file and its worker on loopback. */
import { Agent, localPoster } from "./agent.js";
import type { ChildConfig } from "./child-protocol.js";
import { processHeap } from "./collect.js";

export async function startAgentChild(config: ChildConfig, token: string): Promise<Agent> {
  const agent = new Agent({
    post: localPoster({ host: config.site.host, port: config.site.port, token }),
    log: (line) => console.error(line),
    dbFile: config.site.db,
    // A heap grown by a burst (hashing files, reading rows) is given back once the worker says it
    // is over, and after work the worker does not see (peers fetching blocks, rescans) at a quiet tick.
    heap: processHeap,
  });
  agent.start();
  return agent;
}
