/** `scoutsync admin password`: set the dashboard's superadmin password through the admin API. */
import { errorMessage } from "../http.js";
import { CommandError, openSite } from "./client.js";
import { PromptCancelled, readLineFromStdin, readSecretFromTty } from "./prompt.js";

export const MIN_PASSWORD = 10;

export async function adminPassword(data: string, print: (t: string) => void): Promise<number> {
  // Find the site first: typing a password twice only to hear it is not running is rude.
  const site = openSite(data);
  const password = await askPassword();
  if ([...password].length < MIN_PASSWORD) throw new CommandError(`the password must have at least ${MIN_PASSWORD} characters`);
  const res = await site.call("POST", "/api/admin/password", { password });
  if (res.status < 200 || res.status >= 300) throw new CommandError(errorMessage(res));
  print("scoutsync: superadmin password set");
  return 0;
}

async function askPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readLineFromStdin();
  try {
    const first = await readSecretFromTty("New superadmin password: ");
    const second = await readSecretFromTty("Repeat it: ");
    if (first !== second) throw new CommandError("the two passwords differ; nothing was changed");
    return first;
  } catch (err) {
    if (err instanceof PromptCancelled) throw new CommandError("cancelled; nothing was changed");
    throw err;
  }
}
