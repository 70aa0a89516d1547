import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./worker/state/schema.ts",
  out: "./worker/state/migrations",
});
