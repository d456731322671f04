import { createHash } from "node:crypto";
import {
  DescribeImageAttributeCommand,
  type EC2Client,
  type LaunchPermission as Ec2LaunchPermission,
  ModifyImageAttributeCommand,
} from "@aws-sdk/client-ec2";
import {
  CreateGrantCommand,
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  paginateListGrants,
  RevokeGrantCommand,
} from "@aws-sdk/client-kms";
import {
  AssociateResourceShareCommand,
  CreateResourceShareCommand,
  DisassociateResourceShareCommand,
  GetResourceShareAssociationsCommand,
  GetResourceSharesCommand,
  RAMClient,
} from "@aws-sdk/client-ram";
import type { SharePort } from "../pipeline/ports.js";
import { KEY_GRANT_PREFIX, MEMBER_KEY_OPERATIONS } from "../plan/share.js";
import type { KeyGrant, LaunchPermission } from "../plan/types.js";
import { type AdapterOptions, awsCall as call, sendOptions } from "./call.js";
import type { ClientFactory } from "./client-factory.js";
import { ec2Clients } from "./ec2.js";

function fromEc2(p: Ec2LaunchPermission): LaunchPermission | undefined {
  if (p.OrganizationArn) return { kind: "organization", id: p.OrganizationArn };
  if (p.OrganizationalUnitArn) return { kind: "organizational-unit", id: p.OrganizationalUnitArn };
  if (p.UserId) return { kind: "account", id: p.UserId };
  if (p.Group === "all") return { kind: "public", id: "all" };
  return undefined;
}

function toEc2(p: LaunchPermission): Ec2LaunchPermission {
  switch (p.kind) {
    case "organization":
      return { OrganizationArn: p.id };
    case "organizational-unit":
      return { OrganizationalUnitArn: p.id };
    case "account":
      return { UserId: p.id };
    case "public":
      return { Group: "all" };
  }
}

export function createShareAdapter(
  clients: {
    readonly ec2: (region: string) => EC2Client;
    readonly kms: (region: string) => KMSClient;
    readonly ram: (region: string) => RAMClient;
  },
  options: AdapterOptions = {},
): SharePort {
  const { signal } = options;
  const opts = sendOptions(signal);
  const awsCall = <T>(service: string, operation: string, region: string, fn: () => Promise<T>) =>
    call(service, operation, region, fn, signal);

  const associations = async (region: string, shareArn: string, type: "PRINCIPAL" | "RESOURCE") => {
    const entities: string[] = [];
    let nextToken: string | undefined;
    do {
      const out = await clients.ram(region).send(
        new GetResourceShareAssociationsCommand({
          associationType: type,
          resourceShareArns: [shareArn],
          ...(nextToken ? { nextToken } : {}),
        }),
        opts,
      );
      for (const a of out.resourceShareAssociations ?? [])
        if (a.associatedEntity && (a.status === "ASSOCIATED" || a.status === "ASSOCIATING"))
          entities.push(a.associatedEntity);
      nextToken = out.nextToken;
    } while (nextToken);
    return entities;
  };

  /** One principal or resource per call, each with its own token derived from the change's. */
  const changeOneByOne = async (
    region: string,
    shareArn: string,
    kind: "associate" | "disassociate",
    change: { readonly principals: readonly string[]; readonly resources: readonly string[] },
    clientToken: string,
  ): Promise<void> => {
    const items = [
      ...change.principals.map((p) => ({ principals: [p] })),
      ...change.resources.map((r) => ({ resourceArns: [r] })),
    ];
    for (const item of items) {
      const token = `${clientToken.slice(0, 23)}-${createHash("sha256")
        .update(`${kind}\n${JSON.stringify(item)}`)
        .digest("hex")
        .slice(0, 40)}`;
      const input = { resourceShareArn: shareArn, ...item, clientToken: token };
      await clients
        .ram(region)
        .send(
          kind === "associate"
            ? new AssociateResourceShareCommand(input)
            : new DisassociateResourceShareCommand(input),
          opts,
        );
    }
  };

  return {
    launchPermissions: (region, imageId) =>
      awsCall("ec2", "DescribeImageAttribute", region, async () => {
        const out = await clients
          .ec2(region)
          .send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: "launchPermission" }), opts);
        return (out.LaunchPermissions ?? [])
          .map(fromEc2)
          .filter((p): p is LaunchPermission => p !== undefined);
      }),
    modifyLaunchPermissions: (region, imageId, add, remove) =>
      awsCall("ec2", "ModifyImageAttribute", region, async () => {
        await clients.ec2(region).send(
          new ModifyImageAttributeCommand({
            ImageId: imageId,
            LaunchPermission: {
              ...(add.length ? { Add: add.map(toEc2) } : {}),
              ...(remove.length ? { Remove: remove.map(toEc2) } : {}),
            },
          }),
          opts,
        );
      }),
    describeKey: (region, key) =>
      awsCall("kms", "DescribeKey", region, async () => {
        const kms = clients.kms(region);
        // Aliases work for DescribeKey only: ListGrants, GetKeyPolicy and CreateGrant want the key.
        const described = await kms.send(new DescribeKeyCommand({ KeyId: key }), opts);
        const arn = described.KeyMetadata?.Arn ?? key;
        const grants: KeyGrant[] = [];
        for await (const page of paginateListGrants({ client: kms }, { KeyId: arn }, opts))
          for (const g of page.Grants ?? []) {
            const account = g.Name?.startsWith(KEY_GRANT_PREFIX)
              ? g.Name.slice(KEY_GRANT_PREFIX.length)
              : undefined;
            if (account && g.GrantId) grants.push({ grantId: g.GrantId, accountId: account });
          }
        const policy = await kms.send(new GetKeyPolicyCommand({ KeyId: arn, PolicyName: "default" }), opts);
        return { arn, grants, ...(policy.Policy ? { policy: policy.Policy } : {}) };
      }),
    createKeyGrant: (region, keyArn, accountId) =>
      awsCall("kms", "CreateGrant", region, async () => {
        const partition = keyArn.split(":")[1] ?? "aws";
        const out = await clients.kms(region).send(
          new CreateGrantCommand({
            KeyId: keyArn,
            GranteePrincipal: `arn:${partition}:iam::${accountId}:root`,
            Operations: [...MEMBER_KEY_OPERATIONS],
            // With a name, a retry with the same fields returns the existing grant (no duplicate).
            Name: `${KEY_GRANT_PREFIX}${accountId}`,
          }),
          opts,
        );
        return out.GrantId ?? "";
      }),
    revokeKeyGrant: (region, keyArn, grantId) =>
      awsCall("kms", "RevokeGrant", region, async () => {
        await clients.kms(region).send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: grantId }), opts);
      }),
    findParameterShare: (region, name) =>
      awsCall("ram", "GetResourceShares", region, async () => {
        const out = await clients
          .ram(region)
          .send(
            new GetResourceSharesCommand({ resourceOwner: "SELF", name, resourceShareStatus: "ACTIVE" }),
            opts,
          );
        const share = (out.resourceShares ?? []).find((s) => s.name === name && s.resourceShareArn);
        if (!share?.resourceShareArn) return undefined;
        const arn = share.resourceShareArn;
        const [principals, resources] = await Promise.all([
          associations(region, arn, "PRINCIPAL"),
          associations(region, arn, "RESOURCE"),
        ]);
        return { arn, principals, resources };
      }),
    createParameterShare: (region, input) =>
      awsCall("ram", "CreateResourceShare", region, async () => {
        // At most one principal and one resource per request: RAM's condition keys (ram:Principal,
        // ram:ResourceArn) are single-valued, so the pipeline's policy can pin each one exactly.
        const [principal, ...principals] = input.principals;
        const [resource, ...resources] = input.resources;
        const out = await clients.ram(region).send(
          new CreateResourceShareCommand({
            name: input.name,
            ...(principal ? { principals: [principal] } : {}),
            ...(resource ? { resourceArns: [resource] } : {}),
            // Never outside the organization: RAM refuses principals that are not in it.
            allowExternalPrincipals: false,
            clientToken: input.clientToken,
            tags: [{ key: "ops-rig:managed", value: "true" }],
          }),
          opts,
        );
        const arn = out.resourceShare?.resourceShareArn ?? "";
        await changeOneByOne(region, arn, "associate", { principals, resources }, input.clientToken);
        return arn;
      }),
    associateParameterShare: (region, shareArn, change, clientToken) =>
      awsCall("ram", "AssociateResourceShare", region, () =>
        changeOneByOne(region, shareArn, "associate", change, clientToken),
      ),
    disassociateParameterShare: (region, shareArn, change, clientToken) =>
      awsCall("ram", "DisassociateResourceShare", region, () =>
        changeOneByOne(region, shareArn, "disassociate", change, clientToken),
      ),
  };
}

/** The port over the factory's EC2, KMS and RAM clients (loaded only when a project shares AMIs). */
export function sharePort(clients: ClientFactory, options: AdapterOptions = {}): SharePort {
  return createShareAdapter(
    {
      ec2: ec2Clients(clients),
      kms: (region) => clients.other("kms", region, (config) => new KMSClient(config)),
      ram: (region) => clients.other("ram", region, (config) => new RAMClient(config)),
    },
    options,
  );
}
