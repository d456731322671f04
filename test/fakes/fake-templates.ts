import type { LaunchTemplateInfo, LaunchTemplatePort, TemplateRunInput } from "../../src/services/ports.js";

/**
 * In-memory rig launch templates: templates by region and name, and every RunInstances from a
 * template recorded with the version it was pinned to. A run names a version that must exist.
 */
export class FakeTemplates implements LaunchTemplatePort {
  readonly templates = new Map<string, LaunchTemplateInfo>();
  readonly runs: { region: string; input: TemplateRunInput; dryRun: boolean }[] = [];
  private next = 1;

  put(region: string, info: LaunchTemplateInfo): void {
    this.templates.set(`${region}/${info.name}`, info);
  }

  async template(region: string, name: string): Promise<LaunchTemplateInfo | undefined> {
    return this.templates.get(`${region}/${name}`);
  }

  async runFromTemplate(region: string, input: TemplateRunInput) {
    this.check(region, input);
    this.runs.push({ region, input, dryRun: false });
    return { instanceId: `i-${(this.next++).toString(16).padStart(17, "0")}`, privateIp: "10.0.0.10" };
  }

  async checkRunFromTemplate(region: string, input: TemplateRunInput): Promise<void> {
    this.check(region, input);
    this.runs.push({ region, input, dryRun: true });
  }

  private check(region: string, input: TemplateRunInput): void {
    const found = [...this.templates.entries()].find(
      ([key, t]) => key.startsWith(`${region}/`) && t.templateId === input.templateId,
    );
    if (!found) throw new Error(`InvalidLaunchTemplateId.NotFound: ${input.templateId} in ${region}`);
    if (input.version < 1 || input.version > found[1].latestVersion)
      throw new Error(`InvalidLaunchTemplateId.VersionNotFound: ${input.version}`);
  }
}
