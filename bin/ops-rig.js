#!/usr/bin/env node
// The published command runs the compiled CLI (npm ci / npm install build it via `prepare`).
import { runAsProcess } from "../dist/cli/main.js";

await runAsProcess(process.argv.slice(2));
