// Wrangler bundles these as text (see [[rules]] in wrangler.toml).
declare module '*.yaml' {
  const text: string;
  export default text;
}
declare module '*.md' {
  const text: string;
  export default text;
}
