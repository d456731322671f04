#!/usr/bin/env node
// The published command runs the compiled CLI (npm ci / npm install build it via `prepare`).
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
