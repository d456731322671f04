import { describe, expect, it } from "vitest";
import { keyPolicyAllows, memberResolveName, wantedPermissions } from "../../../src/plan/share.js";

const ORG = "arn:aws:organizations::111111111111:organization/o-abc1234567";
const OU = "arn:aws:organizations::111111111111:ou/o-abc1234567/ou-ab12-aaaaaaaa";
const statement = (
  condition: object,
  action: unknown = ["kms:Decrypt", "kms:CreateGrant", "kms:DescribeKey"],
) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Principal: { AWS: "*" }, Action: action, Resource: "*", Condition: condition },
    ],
  });

describe("keyPolicyAllows: whether a copy key's policy lets an organization or OU launch shared AMIs", () => {
  const org = { kind: "organization" as const, id: ORG };
  const ou = { kind: "organizational-unit" as const, id: OU };
  it.each([
    [
      "aws:PrincipalOrgID of the organization, for the organization",
      statement({ StringEquals: { "aws:PrincipalOrgID": "o-abc1234567" } }),
      org,
      true,
    ],
    [
      "aws:PrincipalOrgID of the organization, for its OU",
      statement({ StringEquals: { "aws:PrincipalOrgID": "o-abc1234567" } }),
      ou,
      true,
    ],
    [
      "another organization's id",
      statement({ StringEquals: { "aws:PrincipalOrgID": "o-zzz9999999" } }),
      org,
      false,
    ],
    [
      "the OU's path",
      statement({
        "ForAnyValue:StringLike": { "aws:PrincipalOrgPaths": ["o-abc1234567/r-ab12/ou-ab12-aaaaaaaa/*"] },
      }),
      ou,
      true,
    ],
    [
      "a nested path through the OU",
      statement({
        "ForAnyValue:StringLike": {
          "aws:PrincipalOrgPaths": ["o-abc1234567/r-ab12/ou-ab12-aaaaaaaa/ou-ab12-cccccccc/*"],
        },
      }),
      ou,
      true,
    ],
    [
      "another OU's path",
      statement({
        "ForAnyValue:StringLike": { "aws:PrincipalOrgPaths": ["o-abc1234567/r-ab12/ou-ab12-bbbbbbbb/*"] },
      }),
      ou,
      false,
    ],
    [
      "an OU path, for the whole organization",
      statement({
        "ForAnyValue:StringLike": { "aws:PrincipalOrgPaths": ["o-abc1234567/r-ab12/ou-ab12-aaaaaaaa/*"] },
      }),
      org,
      false,
    ],
    [
      "the root's path, for an OU",
      statement({ "ForAnyValue:StringLike": { "aws:PrincipalOrgPaths": ["o-abc1234567/r-ab12/*"] } }),
      ou,
      true,
    ],
    [
      "without kms:CreateGrant (EC2 could not create the volume's grant)",
      statement({ StringEquals: { "aws:PrincipalOrgID": "o-abc1234567" } }, ["kms:Decrypt"]),
      org,
      false,
    ],
    [
      "kms:* for the organization",
      statement({ StringEquals: { "aws:PrincipalOrgID": "o-abc1234567" } }, "kms:*"),
      org,
      true,
    ],
    ["no condition on the organization at all", statement({}), org, false],
    ["not JSON", "{", org, false],
  ])("%s", (_name, policy, permission, expected) => {
    expect(keyPolicyAllows(policy, permission)).toBe(expected);
  });

  it("a Deny statement never counts as allowing", () => {
    const deny = JSON.parse(statement({ StringEquals: { "aws:PrincipalOrgID": "o-abc1234567" } }));
    deny.Statement[0].Effect = "Deny";
    expect(keyPolicyAllows(JSON.stringify(deny), org)).toBe(false);
  });
});

describe("names a member account uses", () => {
  it("resolve:ssm: with the full ARN of the security account's parameter", () => {
    expect(memberResolveName("eu-west-1", "123456789012", "/ops-rig/heavy/ami-id")).toBe(
      "resolve:ssm:arn:aws:ssm:eu-west-1:123456789012:parameter/ops-rig/heavy/ami-id",
    );
    expect(memberResolveName("cn-north-1", "123456789012", "/ops-rig/heavy/ami-id")).toMatch(
      /^resolve:ssm:arn:aws-cn:/,
    );
  });

  it("launch permissions in the order organization, OUs, accounts; none without share:", () => {
    expect(
      wantedPermissions({ organizationArn: ORG, organizationalUnitArns: [OU], accountIds: ["222222222222"] }),
    ).toEqual([
      { kind: "organization", id: ORG },
      { kind: "organizational-unit", id: OU },
      { kind: "account", id: "222222222222" },
    ]);
    expect(wantedPermissions(undefined)).toEqual([]);
  });
});
