import { EC2Client, RegisterImageCommand } from "@aws-sdk/client-ec2";
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { RAMClient } from "@aws-sdk/client-ram";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { createShareAdapter } from "../../src/aws/share.js";
import { rejection, useLocalAws } from "./helpers.js";

const local = useLocalAws(import.meta.filename);
const REGION = "eu-west-1";
const ORG = "arn:aws:organizations::111111111111:organization/o-abc1234567";
const OU = "arn:aws:organizations::111111111111:ou/o-abc1234567/ou-ab12-aaaaaaaa";
const MEMBER = "222222222222";

function adapter() {
  const config = (region: string) => local.aws.clientConfig(region);
  return createShareAdapter({
    ec2: (region) => new EC2Client(config(region)),
    kms: (region) => new KMSClient(config(region)),
    ram: (region) => new RAMClient(config(region)),
  });
}

describe("the share adapter against moto 5.2.1", () => {
  it("launch permissions to an organization, an OU and an account: added, read back, removed", async () => {
    const ec2 = new EC2Client(local.aws.clientConfig(REGION));
    const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: "ops-rig-light-debian-12-amd64-x" }));
    const imageId = ImageId ?? "";
    const share = adapter();
    expect(await share.launchPermissions(REGION, imageId)).toEqual([]);
    await share.modifyLaunchPermissions(
      REGION,
      imageId,
      [
        { kind: "organization", id: ORG },
        { kind: "organizational-unit", id: OU },
        { kind: "account", id: MEMBER },
      ],
      [],
    );
    const shared = await share.launchPermissions(REGION, imageId);
    expect(new Set(shared.map((p) => `${p.kind} ${p.id}`))).toEqual(
      new Set([`organization ${ORG}`, `organizational-unit ${OU}`, `account ${MEMBER}`]),
    );
    // Adding again changes nothing; removing what is not there is no error (EC2's semantics).
    await share.modifyLaunchPermissions(REGION, imageId, [{ kind: "organizational-unit", id: OU }], []);
    await share.modifyLaunchPermissions(
      REGION,
      imageId,
      [],
      [
        { kind: "organization", id: ORG },
        { kind: "account", id: "333333333333" },
      ],
    );
    expect((await share.launchPermissions(REGION, imageId)).map((p) => p.id).sort()).toEqual(
      [MEMBER, OU].sort(),
    );
  });

  it("a copy key by alias: resolved to its ARN, with its policy; named grants for member accounts, revoked", async () => {
    const kms = new KMSClient(local.aws.clientConfig(REGION));
    const policy = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { AWS: "*" }, Action: "kms:*", Resource: "*" }],
    });
    const key = await kms.send(new CreateKeyCommand({ Policy: policy, Description: "ops-rig AMI copies" }));
    const keyId = key.KeyMetadata?.KeyId ?? "";
    await kms.send(new CreateAliasCommand({ AliasName: "alias/ops-rig-ami", TargetKeyId: keyId }));
    const share = adapter();
    const described = await share.describeKey(REGION, "alias/ops-rig-ami");
    expect(described.arn).toBe(key.KeyMetadata?.Arn);
    expect(described.grants).toEqual([]);
    expect(JSON.parse(described.policy ?? "{}").Statement[0].Action).toBe("kms:*");
    const grantId = await share.createKeyGrant(REGION, described.arn, MEMBER);
    const withGrant = await share.describeKey(REGION, described.arn);
    expect(withGrant.grants).toEqual([{ grantId, accountId: MEMBER }]);
    await share.revokeKeyGrant(REGION, described.arn, grantId);
    expect((await share.describeKey(REGION, described.arn)).grants).toEqual([]);
  });

  it("gap: moto's RAM refuses SSM parameters as a resource type (the in-memory fake models RAM sharing)", async () => {
    const ssm = new SSMClient(local.aws.clientConfig(REGION));
    await ssm.send(
      new PutParameterCommand({
        Name: "/ops-rig/light/ami-id",
        Value: "ami-0123456789abcdef0",
        Type: "String",
        Tier: "Advanced",
      }),
    );
    const arn = `arn:aws:ssm:${REGION}:${local.aws.accountId}:parameter/ops-rig/light/ami-id`;
    const error = await rejection(
      adapter().createParameterShare(REGION, {
        name: "ops-rig-parameters",
        principals: [],
        resources: [arn],
        clientToken: "ops-rig-test",
      }),
    );
    expect(String(error)).toMatch(/cannot share the selected resource type|MalformedArn/i);
    expect(await adapter().findParameterShare(REGION, "ops-rig-parameters")).toBeUndefined();
  });
});
