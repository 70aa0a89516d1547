// Files the bundles hold as text: see the loaders in scripts/build.mjs and the rules in wrangler.toml.
declare module "*.html" {
  const text: string;
  export default text;
}
declare module "htmx.org/dist/htmx.min.js" {
  const text: string;
  export default text;
}
