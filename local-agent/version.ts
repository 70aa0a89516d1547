// Inlined by esbuild at build time, so the bundle reports the version it was built from.
import pkg from "../package.json";

export const VERSION: string = pkg.version;
