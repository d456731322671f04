// Loads, validates and renders the project in <root> (argv[2]) and writes its plain data (JSON) on
// stdout: what infra/lib/bundle.ts ships beside a Lambda as project.json. A child process (run with
// tsx) because CDK builds its app synchronously and loading the project is asynchronous. A
// configuration problem is written as {"problems":[...]} with exit code 2, for the parent to rethrow.
import { loadProject } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { projectData } from "../../src/lambda/project.js";
import { renderProject } from "../../src/render/index.js";

const root = process.argv[2];
if (!root) throw new Error("usage: project-child.ts <project root>");
try {
  process.stdout.write(JSON.stringify(projectData(renderProject(await loadProject(root)))));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stdout.write(JSON.stringify({ problems: error.problems }));
  process.exitCode = 2;
}
