import { describe, expect, it } from "vitest";
import { checkLaunchBody, checkOutcomeBody, parseApiRequest } from "../../src/api/requests.js";

describe("the API's requests, checked by hand (no zod in the API Lambda)", () => {
  it("reports every problem of a launch request in field order, unknown fields last, with zod's former messages", () => {
    expect(checkLaunchBody({ a: 1, toolset: 2, instanceType: "x".repeat(70), dryRun: null })).toEqual({
      ok: false,
      problems: [
        { field: "toolset", message: "Invalid input: expected string, received number" },
        { field: "instanceType", message: "Too big: expected string to have <=64 characters" },
        { field: "instanceType", message: "an EC2 instance type like m7i.large" },
        { field: "dryRun", message: "Invalid input: expected boolean, received null" },
        { field: "body", message: 'Unrecognized key: "a"' },
      ],
    });
    expect(checkLaunchBody({})).toEqual({
      ok: false,
      problems: [{ field: "toolset", message: "Invalid input: expected string, received undefined" }],
    });
    expect(checkLaunchBody({ toolset: "light", caseId: "none", x: 1, y: 2 })).toEqual({
      ok: false,
      problems: [
        { field: "caseId", message: '"none" is not a case' },
        { field: "body", message: 'Unrecognized keys: "x", "y"' },
      ],
    });
    expect(checkLaunchBody([])).toEqual({
      ok: false,
      problems: [{ field: "body", message: "Invalid input: expected object, received array" }],
    });
  });

  it("passes a valid launch request through, absent fields absent", () => {
    const body = {
      dryRun: true,
      toolset: "light",
      region: "eu-west-1",
      subnet: "subnet-0123abcd",
      region2: undefined,
    };
    const { region2: _, ...valid } = body;
    expect(checkLaunchBody(valid)).toEqual({ ok: true, data: valid });
    expect(checkLaunchBody({ toolset: "light", keyName: undefined })).toEqual({
      ok: true,
      data: { toolset: "light" },
    });
  });

  it("keeps an outcome's own fields and checks the common ones", () => {
    expect(checkOutcomeBody({ caseId: "IR-1", instanceId: "i-0123456789abcdef0", note: { x: 1 } })).toEqual({
      ok: true,
      data: { caseId: "IR-1", instanceId: "i-0123456789abcdef0", note: { x: 1 } },
    });
    const refused = parseApiRequest(
      "POST",
      "/outcomes/inspect",
      JSON.stringify({ caseId: "IR;1", instanceId: "i-1" }),
    );
    expect(refused).toMatchObject({
      ok: false,
      status: 400,
      problems: [
        { field: "caseId", message: "1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit" },
        { field: "instanceId", message: "an instance id (i-...)" },
      ],
    });
  });
});
