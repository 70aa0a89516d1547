/** Wire bodies of the admin API (/api/admin/*), used by the CLI and the admin pages. */
import { z } from "zod";

/** A peer is a site's base URL: http(s), a host (IP or name), an optional port, nothing else. */
export const PeerUrlSchema = z
  .string()
  .trim()
  .transform((s, ctx) => {
    let u: URL;
    try {
      u = new URL(/^[a-z]+:\/\//i.test(s) ? s : `http://${s}`);
    } catch {
      ctx.addIssue({ code: "custom", message: `not a URL: ${JSON.stringify(s)} (expected e.g. http://192.168.1.20:8787)` });
      return z.NEVER;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") ctx.addIssue({ code: "custom", message: `peer URL must use http or https, not ${u.protocol}` });
    if (u.username || u.password) ctx.addIssue({ code: "custom", message: "peer URL must not carry a user name or password" });
    if ((u.pathname !== "/" && u.pathname !== "") || u.search || u.hash) ctx.addIssue({ code: "custom", message: "peer URL must be only scheme, host and port (no path, query or fragment)" });
    return `${u.protocol}//${u.host}`;
  });

export const AddPeerSchema = z.object({
  url: PeerUrlSchema,
  name: z.string().trim().min(1).max(100).optional(),
});

export const PeerAddressesSchema = z.object({
  addresses: z.record(z.string(), z.array(z.string().max(64)).max(32)),
});

export const PeerViewSchema = z.object({
  id: z.string(),
  url: z.string(),
  name: z.string().nullable(),
  site: z.string().nullable(),
  online: z.boolean(),
  lastSeenAt: z.number().nullable(),
  lastSyncAt: z.number().nullable(),
  lastError: z.string().nullable(),
  pending: z.number().int(),
});
export type PeerView = z.infer<typeof PeerViewSchema>;

export const PasswordSchema = z.object({
  password: z.string().min(10, "the password must have at least 10 characters").max(200),
});
