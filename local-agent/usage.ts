/** The help texts, kept together so they read as one manual and match DESIGN.md §4. */

const DATA_FLAG = "  --data DIR      the site's data folder (default ./data)";

export const USAGE: Record<string, string> = {
  top: `scoutsync — keeps an instance folder and a SQLite database in sync between on-site servers

Usage:
  scoutsync start [--instance DIR] [--data DIR] [--db FILE] [--port N] [--host ADDR]
                  [--db-port N] [--name NAME] [--on-change CMD] [--on-change-url URL]
  scoutsync status [--json]
  scoutsync peer add URL [--name NAME]
  scoutsync peer list [--json]
  scoutsync peer remove ID
  scoutsync admin password

Every command but start takes --data DIR to pick the site it talks to (default ./data).
Run scoutsync COMMAND --help for details; scoutsync --version prints the version.`,

  start: `Usage: scoutsync start [flags]

Starts this site: the libSQL server, the worker (API and dashboard) and the agent.
Stop it with Ctrl-C.

  --instance DIR  the folder whose files are synced (default ./instance)
  --data DIR      scoutsync's own files: state, admin token, lock (default ./data)
  --db FILE       the app's SQLite database (default DATA/app.db)
  --port N        the worker's HTTP port, dashboard and sync API (default 8787)
  --host ADDR     the address the worker listens on (default 0.0.0.0: every interface,
                  so peers on the LAN can reach it)
  --db-port N     the libSQL server's port on 127.0.0.1 (default: a free port)
  --name NAME     this site's name on dashboards (default: this machine's host name)
  --on-change CMD      run CMD (through the shell) after received files land, e.g. to make
                       the app reload its config; $SCOUTSYNC_CHANGED lists the paths
  --on-change-url URL  POST {"paths": [...]} to URL after received files land

Several sites run side by side when their --port, --data and --instance differ.`,

  status: `Usage: scoutsync status [--json] [--data DIR]

Shows this site (id, name, ports, uptime) and each peer (online, last sync, pending changes,
errors).

  --json          print the status as JSON
${DATA_FLAG}`,

  peer: `Usage:
  scoutsync peer add URL [--name NAME]   add a peer, e.g. http://192.168.1.20:8787
  scoutsync peer list [--json]           list the peers and how they are doing
  scoutsync peer remove ID               remove a peer (ID from peer list)

All take --data DIR (default ./data).`,

  "peer add": `Usage: scoutsync peer add URL [--name NAME] [--data DIR]

Adds a peer this site syncs with. URL is the peer's address: http or https, a host and an
optional port, nothing after the "/", e.g. http://192.168.1.20:8787

  --name NAME     a name for the peer on the dashboard
${DATA_FLAG}`,

  "peer list": `Usage: scoutsync peer list [--json] [--data DIR]

Lists the peers: id, name, URL, online, last sync, pending changes, last error.

  --json          print the list as JSON
${DATA_FLAG}`,

  "peer remove": `Usage: scoutsync peer remove ID [--data DIR]

Removes a peer; ID is the first column of scoutsync peer list.

${DATA_FLAG}`,

  admin: `Usage:
  scoutsync admin password   set the superadmin password of the dashboard

Takes --data DIR (default ./data).`,

  "admin password": `Usage: scoutsync admin password [--data DIR]

Sets the superadmin password of this site's dashboard (at least 10 characters). On a terminal
it asks twice without echo; otherwise it reads one line from stdin, e.g.
  printf '%s\\n' "$PASSWORD" | scoutsync admin password

${DATA_FLAG}`,
};

export function usage(command: string): string {
  return USAGE[command] ?? USAGE["top"] ?? "";
}
