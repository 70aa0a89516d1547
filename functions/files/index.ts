export * from "./path.js";
export * from "./ignore.js";
export * from "./conflict.js";
